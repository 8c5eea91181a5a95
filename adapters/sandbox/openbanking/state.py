"""The relay's whole mutable world, reachable as ``app.state.relay``.

One object holds clients, users, accounts (with their books), tokens, the per-day register of used
``bank_tran_id`` values (§4: unique per day per 이용기관, duplicates → A0326), transfer records
that ``transfer/result`` answers from (§2.7), and the fault book. Everything runs on one event
loop and no handler awaits between reading and writing state, so no locks are needed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from .codes import institution_name
from .faults import FaultBook, FaultSpec
from .formats import KST, fmt_date, mask_account_num, parse_date, to_kst
from .history import generate_history
from .ledger import Account
from .seed import AccountSeed, ClientSeed, ContractAccountSeed, Seed, UserSeed
from .tokens import TokenStore

CheckType = Literal["1", "2"]  # transfer/result: 1 withdrawal, 2 deposit (§2.7)


@dataclass(frozen=True)
class Party:
    """One side of a transfer as the relay prints it (wd_* or dps_* fields)."""

    bank_code_std: str
    bank_code_sub: str
    bank_name: str
    account_num_masked: str
    print_content: str
    account_holder_name: str

    def fields(self, prefix: str) -> dict[str, str]:
        return {
            f"{prefix}_bank_code_std": self.bank_code_std,
            f"{prefix}_bank_code_sub": self.bank_code_sub,
            f"{prefix}_bank_name": self.bank_name,
            f"{prefix}_account_num_masked": self.account_num_masked,
            f"{prefix}_print_content": self.print_content,
            f"{prefix}_account_holder_name": self.account_holder_name,
        }

    @classmethod
    def of_account(cls, account: Account, print_content: str) -> Party:
        return cls(
            bank_code_std=account.bank_code_std,
            bank_code_sub=account.bank_code_sub,
            bank_name=institution_name(account.bank_code_std),
            account_num_masked=mask_account_num(account.account_num),
            print_content=print_content,
            account_holder_name=account.account_holder_name,
        )

    @classmethod
    def of_contract(cls, contract: ContractAccountSeed, print_content: str) -> Party:
        return cls(
            bank_code_std=contract.bank_code_std,
            bank_code_sub=contract.bank_code_sub or f"{contract.bank_code_std}0001",
            bank_name=institution_name(contract.bank_code_std),
            account_num_masked=mask_account_num(contract.cntr_account_num),
            print_content=print_content,
            account_holder_name=contract.holder_name,
        )


@dataclass
class TransferRecord:
    """What the participant knows about one transfer; only transfers that reached it are kept."""

    check_type: CheckType
    bank_tran_id: str
    bank_tran_date: str
    bank_code_tran: str
    bank_rsp_code: str
    tran_amt: int
    fintech_use_num: str
    user_seq_no: str
    client_use_code: str
    wd: Party
    dps: Party

    @property
    def executed(self) -> bool:
        return self.bank_rsp_code == "000"


@dataclass
class Relay:
    seed: Seed
    clock: Callable[[], datetime]
    clients: dict[str, ClientSeed]
    users: dict[str, UserSeed]
    accounts: dict[str, Account]
    tokens: TokenStore
    faults: FaultBook = field(default_factory=FaultBook)
    used_bank_tran_ids: set[tuple[str, str]] = field(default_factory=set)
    transfers: dict[tuple[CheckType, str, str], TransferRecord] = field(default_factory=dict)
    closed_users: set[str] = field(default_factory=set)  # user/close (§2.12) until re-consent

    @classmethod
    def from_seed(cls, seed: Seed, clock: Callable[[], datetime]) -> Relay:
        now = to_kst(clock())
        settings = seed.relay
        relay = cls(
            seed=seed,
            clock=clock,
            clients={c.client_id: c for c in seed.clients},
            users={u.user_seq_no: u for u in seed.users},
            accounts={
                a.fintech_use_num: account_of(u, a, now) for u in seed.users for a in u.accounts
            },
            tokens=TokenStore(
                signing_key=settings.token_signing_key.encode(),
                access_ttl=timedelta(seconds=settings.access_token_ttl_seconds),
                refresh_ttl=timedelta(seconds=settings.refresh_token_ttl_seconds),
            ),
        )
        for raw in seed.faults:
            relay.faults.add(FaultSpec.model_validate(raw))
        return relay

    def now(self) -> datetime:
        return to_kst(self.clock())

    def today(self) -> str:
        return fmt_date(self.now())

    def user_by_ref(self, ref: str) -> UserSeed | None:
        """A demo user by seed ``id`` (e.g. ``demo``) or by ``user_seq_no``."""
        if ref in self.users:
            return self.users[ref]
        return next((u for u in self.users.values() if u.id == ref), None)

    def accounts_of(self, user_seq_no: str) -> list[Account]:
        return [a for a in self.accounts.values() if a.user_seq_no == user_seq_no]

    def account_by_number(self, bank_code_std: str, account_num: str) -> Account | None:
        wanted = account_num.replace("-", "")
        return next(
            (
                a
                for a in self.accounts.values()
                if a.bank_code_std == bank_code_std and a.account_num.replace("-", "") == wanted
            ),
            None,
        )

    def claim_bank_tran_id(self, bank_tran_id: str) -> bool:
        """Register the id for today; False if this 이용기관 already used it today."""
        key = (self.today(), bank_tran_id)
        if key in self.used_bank_tran_ids:
            return False
        self.used_bank_tran_ids.add(key)
        return True

    def executed_today(
        self,
        check_type: CheckType,
        *,
        client_use_code: str | None = None,
        user_seq_no: str | None = None,
    ) -> int:
        today = self.today()
        return sum(
            t.tran_amt
            for t in self.transfers.values()
            if t.check_type == check_type
            and t.bank_tran_date == today
            and t.executed
            and (client_use_code is None or t.client_use_code == client_use_code)
            and (user_seq_no is None or t.user_seq_no == user_seq_no)
        )


def account_of(user: UserSeed, seed: AccountSeed, now: datetime) -> Account:
    end_day = parse_date(seed.history.end_date) if seed.history.end_date else None
    last_day = (
        datetime.combine(end_day, datetime.min.time(), tzinfo=KST)
        if end_day is not None
        else now - timedelta(days=1)
    )
    first_day = last_day - timedelta(days=seed.history.days - 1)
    return Account(
        fintech_use_num=seed.fintech_use_num,
        user_seq_no=user.user_seq_no,
        bank_code_std=seed.bank_code_std,
        bank_code_sub=seed.bank_code_sub or f"{seed.bank_code_std}0001",
        account_num=seed.account_num,
        account_seq=seed.account_seq,
        account_alias=seed.account_alias,
        account_holder_name=user.user_name,
        account_holder_type=seed.account_holder_type,
        account_type=seed.account_type,
        product_name=seed.product_name,
        account_issue_date=seed.account_issue_date,
        maturity_date=seed.maturity_date,
        inquiry_agree_dtime=seed.inquiry_agree_dtime,
        transfer_agree_dtime=seed.transfer_agree_dtime,
        account_state=seed.account_state,
        forced_bank_rsp_code=seed.bank_rsp_code,
        balance=seed.balance_amt,
        hold=seed.hold_amt,
        history=generate_history(
            seed=seed.history.seed,
            count=seed.history.count,
            final_balance=seed.balance_amt,
            first_day=first_day,
            last_day=last_day,
        ),
    )
