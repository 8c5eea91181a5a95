"""Investors as data: the investor, the accounts they hold and the institution credentials they
brought, and the rule that derives which source reads which account.

An account's `source` is a plain string naming the AccountSource that reads it (`kis`,
`openbanking`, a broker added behind the ports): the core never enumerates vendors, so a new
broker is a new string, not a new field. Reconciliation settings of an account are derived from
its source (`SOURCE_DEFAULTS`) and overridden per account (`overrides`), so a discovered account
is reconciled without anyone writing configuration for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

T = TypeVar("T")

InvestorStatus = Literal["active", "disabled"]
AccountOrigin = Literal["seed", "discovered", "manual"]
CredentialStatus = Literal["active", "revoked"]

INVESTOR_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
ACCOUNT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
SOURCE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

# What reconciliation reads per source unless an account overrides it. Brokers: cash as the D+2
# projection (moves on a fill) and the broker's own order list; the relay: cash and transactions,
# no holdings (open banking exposes none).
SOURCE_DEFAULTS: dict[str, dict[str, Any]] = {
    "openbanking": {"positions": False, "transactions": True},
    "kis": {"cash_field": "withdrawable", "orders": "kis"},
}


def add_source_defaults(source: str, defaults: dict[str, Any]) -> None:
    """Defaults of a source the core does not list (a broker the composition root wired behind
    the ports, e.g. `{"orders": <its name>}`); the listed ones are never replaced."""
    SOURCE_DEFAULTS.setdefault(source, dict(defaults))


OVERRIDABLE = frozenset(
    {"cash_field", "positions", "transactions", "orders", "transfers_to", "source"}
)


@dataclass(frozen=True, slots=True)
class Investor:
    id: str
    display_name: str
    status: InvestorStatus
    created_at: datetime
    updated_at: datetime
    disabled_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True, slots=True)
class InvestorAccount:
    """One account of one investor. `external_ref` is what the source calls it (KIS
    CANO-ACNT_PRDT_CD, a KFTC fintech_use_num); None for a seeded account whose source resolves
    it by id."""

    id: str
    investor_id: str
    source: str
    institution: str = ""
    kind: str = ""
    external_ref: str | None = None
    masked_number: str = ""
    name: str = ""
    origin: AccountOrigin = "manual"
    enabled: bool = True
    overrides: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def reconcile_fields(self) -> dict[str, Any]:
        """user/account/source plus the reconciliation fields: source defaults, then overrides."""
        merged = {**SOURCE_DEFAULTS.get(self.source, {}), **self.overrides}
        source = merged.pop("source", self.source)
        return {"user": self.investor_id, "account": self.id, "source": source, **merged}

    def with_overrides(self, overrides: dict[str, Any]) -> InvestorAccount:
        unknown = sorted(set(overrides) - OVERRIDABLE)
        if unknown:
            raise ValueError(f"cannot override {', '.join(unknown)}")
        return replace(self, overrides=dict(overrides))


@dataclass(frozen=True, slots=True)
class Credential:
    """An institution credential (e.g. a KIS app key) as everyone but the adapter sees it: the
    secrets themselves stay encrypted in the store; only a masked suffix is ever shown."""

    id: str
    investor_id: str
    institution: str
    env: str
    key_suffix: str
    account_id: str | None
    status: CredentialStatus
    created_at: datetime
    updated_at: datetime


def mask_suffix(secret: str, visible: int = 4) -> str:
    """`****ABCD`: enough to tell keys apart, never enough to use one."""
    return "****" + secret[-visible:] if len(secret) > visible * 2 else "****"


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a cursor-paged listing; `next_cursor` is None on the last page."""

    items: tuple[T, ...]
    next_cursor: str | None
