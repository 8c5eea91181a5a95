"""Seed file schema: relay settings, client credentials, users, accounts, initial faults.

Field names mirror the relay's own where one exists (spec §2.1-§2.3, §4) so a seed reads like the
API's data. Identifiers are strings (quote them in YAML: ``"097"`` must keep its zero); money is
integer KRW. Validation is strict because a seed that silently drifts from the spec's formats
would let a client bug pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Digits3 = Annotated[str, StringConstraints(pattern=r"^[0-9]{3}$")]
Digits8 = Annotated[str, StringConstraints(pattern=r"^[0-9]{8}$")]
Digits14 = Annotated[str, StringConstraints(pattern=r"^[0-9]{14}$")]
FintechUseNum = Annotated[str, StringConstraints(pattern=r"^[0-9]{24}$")]
UserSeqNo = Annotated[str, StringConstraints(pattern=r"^[0-9]{10}$")]
ClientUseCode = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{10}$")]
AccountNum = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z-]{1,20}$")]
UserScope = Literal["login", "inquiry", "transfer", "cardinfo", "fintechinfo", "insuinfo"]
ClientScope = Literal[
    "login", "inquiry", "transfer", "cardinfo", "fintechinfo", "insuinfo", "oob", "sa"
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RelaySettings(_Strict):
    token_signing_key: str = "sandbox-signing-key-not-a-secret"
    access_token_ttl_seconds: int = Field(default=7_776_000, gt=0)  # §1.7: 90 days
    # Refresh-token lifetime is a spec gap (§1.5); it must outlive the access token to be useful.
    refresh_token_ttl_seconds: int = Field(default=8_640_000, gt=0)
    auth_code_ttl_seconds: int = Field(default=600, gt=0)
    # Not a documented relay check: a sandbox strictness that catches clients stamping UTC or a
    # hard-coded tran_dtime (§8.3). ``null`` turns it off.
    tran_dtime_tolerance_seconds: int | None = Field(default=600, ge=0)
    # §2.4: an empty result "may come back as A0018"; the checklist (§10) wants it configurable.
    empty_transaction_list: Literal["A0018", "A0000"] = "A0018"


class HistorySpec(_Strict):
    seed: int
    count: int = Field(default=80, ge=0)
    days: int = Field(default=120, ge=1)
    # Last day the history may reach; default: the day before the sandbox clock's "today".
    end_date: Digits8 | None = None


class AccountSeed(_Strict):
    fintech_use_num: FintechUseNum
    bank_code_std: Digits3
    bank_code_sub: Annotated[str, StringConstraints(pattern=r"^[0-9]{7}$")] | None = None
    account_num: AccountNum
    account_seq: str = ""
    account_alias: str = ""
    account_holder_type: Literal["P", "C"] = "P"
    account_type: Literal["1", "2", "6", "T"] = "1"
    product_name: str = ""
    account_issue_date: Digits8
    maturity_date: Digits8 | Literal[""] = ""
    balance_amt: int
    hold_amt: int = Field(default=0, ge=0)
    inquiry_agree_dtime: Digits14
    transfer_agree_dtime: Digits14 | None = None
    account_state: Literal["01", "09"] = "01"
    # Forces every participant answer for this account (e.g. "419" accident-reported account).
    bank_rsp_code: Digits3 = "000"
    history: HistorySpec


class UserLimits(_Strict):
    withdraw_per_tran: int | None = Field(default=None, gt=0)
    withdraw_daily: int | None = Field(default=10_000_000, gt=0)


class UserSeed(_Strict):
    id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,40}$")]
    user_seq_no: UserSeqNo
    user_name: str
    user_ci: str
    user_info: Digits8 | None = None
    user_gender: Literal["M", "F"] | None = None
    user_cell_no: str | None = None
    user_email: str | None = None
    # Key an 어카운트인포 request may present instead of name + CI (§2.13 variant A).
    ainfo_auth_code: str | None = None
    limits: UserLimits = UserLimits()
    accounts: list[AccountSeed] = []


class ContractAccountSeed(_Strict):
    kind: Literal["deposit", "withdraw"]
    cntr_account_type: Literal["N", "C"] = "N"
    cntr_account_num: AccountNum
    bank_code_std: Digits3
    bank_code_sub: Annotated[str, StringConstraints(pattern=r"^[0-9]{7}$")] | None = None
    holder_name: str


class ClientLimits(_Strict):
    deposit_per_tran: int | None = Field(default=None, gt=0)
    deposit_daily: int | None = Field(default=None, gt=0)


class ClientSeed(_Strict):
    client_id: Annotated[str, StringConstraints(min_length=1)]
    client_secret: Annotated[str, StringConstraints(min_length=1)]
    client_use_code: ClientUseCode
    name: str
    redirect_uris: list[str] = []
    scopes: list[ClientScope] = ["login", "inquiry", "transfer", "oob"]
    # 자체인증 이용기관: may ask client_credentials for ``sa`` (§1.4, §6 go-live item 4).
    self_auth: bool = False
    wd_pass_phrase: str = "NONE"
    contract_accounts: list[ContractAccountSeed] = []
    limits: ClientLimits = ClientLimits()


class Seed(_Strict):
    relay: RelaySettings = RelaySettings()
    clients: list[ClientSeed]
    users: list[UserSeed]
    faults: list[dict[str, Any]] = []

    @model_validator(mode="after")
    def _unique_keys(self) -> Seed:
        def dupes(values: list[str]) -> set[str]:
            return {v for v in values if values.count(v) > 1}

        problems = {
            "client_id": dupes([c.client_id for c in self.clients]),
            "client_use_code": dupes([c.client_use_code for c in self.clients]),
            "user id": dupes([u.id for u in self.users]),
            "user_seq_no": dupes([u.user_seq_no for u in self.users]),
            "fintech_use_num": dupes([a.fintech_use_num for u in self.users for a in u.accounts]),
        }
        bad = {key: sorted(values) for key, values in problems.items() if values}
        if bad:
            raise ValueError(f"duplicate seed keys: {bad}")
        return self


def load_seed(*, path: Path | None = None, data: Mapping[str, Any] | None = None) -> Seed:
    """Validate a seed given either as a YAML file or as an already-parsed mapping."""
    if (path is None) == (data is None):
        raise ValueError("give exactly one of a seed path or seed data")
    if path is not None:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(loaded, Mapping):
            raise ValueError(f"{path}: a seed must be a YAML mapping")
        data = loaded
    return Seed.model_validate(data)


def demo_credentials(seed: Seed | None = None) -> frozenset[str]:
    """The client ids and secrets of the (default) seed: refused outside sandbox mode, since
    anyone can read them in this repository."""
    seed = seed or load_seed(path=Path(__file__).with_name("default_seed.yaml"))
    values: set[str] = set()
    for client in seed.clients:
        values.update((client.client_id, client.client_secret, client.wd_pass_phrase))
    values.discard("NONE")
    return frozenset(values)
