"""The sandbox's starting state, read from YAML and checked strictly (spec §1 keys/accounts).

App keys are 36 characters and secrets 180, as KIS issues them; accounts are an 8-digit
CANO plus a 2-digit product code. Real and paper have separate keys and accounts. Money is
given as integers or decimal strings, never floats.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from adapters.sandbox.kis.faults import FaultPlan
from adapters.sandbox.kis.ticks import SymbolKind, on_tick

DEFAULT_SEED_PATH = Path(__file__).with_name("default_seed.yaml")

Env = Literal["real", "paper"]
DEFAULT_RATE_LIMITS: dict[Env, int] = {"real": 18, "paper": 1}
DEFAULT_BRANCHES: dict[Env, str] = {"real": "91252", "paper": "00950"}

Pdno = Annotated[str, StringConstraints(pattern=r"^(Q\d{6}|\d{6})$")]
Cano = Annotated[str, StringConstraints(pattern=r"^\d{8}$")]
ProductCode = Annotated[str, StringConstraints(pattern=r"^\d{2}$")]
AccountNo = Annotated[str, StringConstraints(pattern=r"^\d{8}-\d{2}$")]
Money = Annotated[Decimal, Field(ge=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SymbolSeed(_Strict):
    """A listed instrument and the knobs of its deterministic price path."""

    pdno: Pdno
    name: str
    base_price: int = Field(gt=0)
    kind: SymbolKind = "stock"
    market: Literal["KOSPI", "KOSDAQ"] = "KOSPI"
    sector: str = ""
    volatility: Decimal = Field(default=Decimal("0.02"), ge=0, le=Decimal("0.2"))
    daily_jitter: Decimal = Field(default=Decimal("0.03"), ge=0, le=Decimal("0.2"))
    liquidity: int = Field(default=2_000, gt=0, description="mean shares tradable per step")

    @model_validator(mode="after")
    def _base_on_tick(self) -> SymbolSeed:
        if not on_tick(self.base_price, self.kind):
            raise ValueError(f"{self.pdno}: base_price {self.base_price} is not on the tick grid")
        return self


class HoldingSeed(_Strict):
    pdno: Pdno
    qty: int = Field(gt=0)
    avg_price: Money


class AccountSeed(_Strict):
    cano: Cano
    acnt_prdt_cd: ProductCode = "01"
    cash: Money = Decimal(0)
    holdings: tuple[HoldingSeed, ...] = ()

    @property
    def number(self) -> str:
        return f"{self.cano}-{self.acnt_prdt_cd}"


class AppSeed(_Strict):
    appkey: Annotated[str, StringConstraints(min_length=36, max_length=36)]
    appsecret: Annotated[str, StringConstraints(min_length=180, max_length=180)]
    accounts: tuple[AccountNo, ...] = Field(min_length=1)
    # The HTS ID execution notices are registered under (spec §7.2); None: derived from the key.
    hts_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_]{1,16}$")] | None = None

    @property
    def resolved_hts_id(self) -> str:
        return self.hts_id or f"sbx{self.appkey[-8:]}".lower()


class EnvSeed(_Strict):
    rate_limit_per_second: int | None = Field(default=None, gt=0)
    order_branch: Annotated[str, StringConstraints(pattern=r"^\d{5}$")] | None = None
    first_order_number: int = Field(default=1, ge=1, lt=10**10)
    apps: tuple[AppSeed, ...] = ()
    accounts: tuple[AccountSeed, ...] = ()

    @model_validator(mode="after")
    def _apps_use_own_accounts(self) -> EnvSeed:
        known = {account.number for account in self.accounts}
        for app in self.apps:
            missing = set(app.accounts) - known
            if missing:
                raise ValueError(f"app {app.appkey[:8]}… names unknown accounts {sorted(missing)}")
        return self


class FeeSeed(_Strict):
    commission_rate: Decimal = Field(default=Decimal("0.00015"), ge=0, le=Decimal("0.01"))
    sell_tax_rate: Decimal = Field(default=Decimal("0.0020"), ge=0, le=Decimal("0.01"))


class Seed(_Strict):
    """The whole seed file. `seed` drives the price paths and the fault RNG."""

    seed: int = 0
    start: datetime | None = Field(default=None, description="sandbox clock start (aware)")
    use_krx_holidays: bool = True
    closures: tuple[date, ...] = ()
    fees: FeeSeed = FeeSeed()
    symbols: tuple[SymbolSeed, ...] = Field(min_length=1)
    envs: dict[Env, EnvSeed]
    faults: FaultPlan | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Seed:
        if self.start is not None and self.start.tzinfo is None:
            raise ValueError("start must carry a timezone, e.g. 2026-03-12T10:00:00+09:00")
        pdnos = [symbol.pdno for symbol in self.symbols]
        if len(set(pdnos)) != len(pdnos):
            raise ValueError("symbols repeat a pdno")
        keys: list[str] = []
        numbers: list[str] = []
        for env in self.envs.values():
            keys += [app.appkey for app in env.apps]
            numbers += [account.number for account in env.accounts]
            for account in env.accounts:
                unknown = {h.pdno for h in account.holdings} - set(pdnos)
                if unknown:
                    raise ValueError(f"{account.number} holds unseeded symbols {sorted(unknown)}")
        if len(set(keys)) != len(keys) or len(set(numbers)) != len(numbers):
            raise ValueError("app keys and account numbers must be unique across environments")
        return self

    def env(self, name: Env) -> EnvSeed:
        return self.envs.get(name, EnvSeed())

    def rate_limit(self, name: Env) -> int:
        return self.env(name).rate_limit_per_second or DEFAULT_RATE_LIMITS[name]

    def branch(self, name: Env) -> str:
        return self.env(name).order_branch or DEFAULT_BRANCHES[name]


def load_seed(path: Path | None = None, data: Mapping[str, object] | None = None) -> Seed:
    """The seed from `data` if given, else from the YAML at `path` (default seed if None)."""
    if data is not None:
        return Seed.model_validate(dict(data))
    text = (path or DEFAULT_SEED_PATH).read_text(encoding="utf-8")
    return Seed.model_validate(yaml.safe_load(text))


def demo_credentials(seed: Seed | None = None) -> frozenset[str]:
    """The app keys, app secrets and accounts of the (default) seed: refused outside sandbox
    mode, since anyone can read them in this repository."""
    seed = seed or load_seed()
    values: set[str] = set()
    for env in seed.envs.values():
        for app in env.apps:
            values.update((app.appkey, app.appsecret, *app.accounts))
    return frozenset(values)
