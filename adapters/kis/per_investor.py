"""KIS reads with each investor's own app key (KIS issues a key per customer account).

`PerInvestorKisSource` is the `kis` AccountSource, the `kis` order list reconciliation reads and
the `kis` OrderExecutor when investors bring keys: for an investor with
an attached credential it reads through a KIS stack built from that key — its own token (stored
under the key's fingerprint, the 1-per-minute issuance rule kept by `KisTokens`, shared across
replicas through the token vault's locks) and its own rate budget (the limiter key is
`<kind>:<fingerprint>`: 18/s real, 1/s paper, Redis-shared when the layer has Redis). Investors
without a key fall back to the service's configured key (the demo investor).

Stacks are cached per (investor, credential version): a rotated key builds a new one, a detached
key falls back at the next lookup (`recheck_seconds` at most).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from pydantic import SecretStr

from adapters.kis import Kis
from adapters.kis.settings import KisSettings
from orchestrator.domain.model import (
    AccountRef,
    CashBalance,
    OrderIntent,
    OrderReport,
    Position,
    Transaction,
)
from orchestrator.ports import Clock


@dataclass(frozen=True, slots=True)
class InvestorKey:
    """An investor's KIS key as the store hands it to the adapter (secrets decrypted)."""

    version: str  # changes on rotation (e.g. the credential's updated_at)
    env: str
    app_key: str
    app_secret: str
    account: str
    account_id: str  # the investor's account record the key reads


KeyLookup = Callable[[str], Awaitable[InvestorKey | None]]
BuildKis = Callable[[KisSettings], Kis]


@dataclass
class _Held:
    version: str | None
    kis: Kis
    checked_at: datetime


class PerInvestorKisSource:
    """AccountSource `kis`: each investor's reads with their own key, else the default one."""

    def __init__(
        self,
        default: Kis,
        lookup: KeyLookup,
        build: BuildKis,
        clock: Clock,
        *,
        recheck_seconds: float = 60.0,
    ) -> None:
        self._default = default
        self._base = default.client.settings
        self._lookup = lookup
        self._build = build
        self._clock = clock
        self._recheck = timedelta(seconds=recheck_seconds)
        self._held: dict[str, _Held] = {}

    @property
    def name(self) -> str:
        return self._default.accounts.name

    def held(self) -> Mapping[str, str | None]:
        """Investor -> credential version of the stack in use (None: the default key)."""
        return {k: v.version for k, v in self._held.items()}

    async def kis_for(self, investor_id: str) -> Kis:
        """The KIS stack of the investor's own key (else the configured one)."""
        now = self._clock.now()
        held = self._held.get(investor_id)
        if held is not None and now - held.checked_at < self._recheck:
            return held.kis
        key = await self._lookup(investor_id)
        version = None if key is None else key.version
        if held is not None and held.version == version:
            held.checked_at = now
            return held.kis
        kis = self._default if key is None else self._build(self._settings(investor_id, key))
        self._held[investor_id] = _Held(version, kis, now)
        return kis

    def _settings(self, investor_id: str, key: InvestorKey) -> KisSettings:
        return self._base.model_copy(
            update={
                "env": key.env,
                "app_key": SecretStr(key.app_key),
                "app_secret": SecretStr(key.app_secret),
                "account": SecretStr(key.account),
                "user_id": investor_id,
                "account_id": key.account_id,
            }
        )

    async def accounts(self, user_id: str) -> Sequence[AccountRef]:
        return await (await self.kis_for(user_id)).accounts.accounts(user_id)

    async def cash(self, account: AccountRef, *, fresh: bool = False) -> CashBalance:
        return await (await self.kis_for(account.user_id)).accounts.cash(account, fresh=fresh)

    async def positions(self, account: AccountRef, *, fresh: bool = False) -> Sequence[Position]:
        kis = await self.kis_for(account.user_id)
        return await kis.accounts.positions(account, fresh=fresh)

    async def cash_and_positions(
        self, account: AccountRef
    ) -> tuple[CashBalance, Sequence[Position]]:
        kis = await self.kis_for(account.user_id)
        return await kis.accounts.cash_and_positions(account)

    async def transactions(
        self, account: AccountRef, start: date, end: date
    ) -> AsyncIterator[Transaction]:
        kis = await self.kis_for(account.user_id)
        async for move in kis.accounts.transactions(account, start, end):
            yield move

    async def orders_since(self, account: AccountRef, since: datetime) -> Sequence[OrderReport]:
        """The broker's order list of the account, read with its owner's key."""
        return await (await self.kis_for(account.user_id)).executor.orders_since(account, since)

    # OrderExecutor: the order goes out with its owner's key; the contract (sent once, unknown
    # outcomes settled from orders_since, only EGW00201 resent) is the KIS executor's own.

    async def submit(self, intent: OrderIntent) -> OrderReport:
        return await (await self.kis_for(intent.account.user_id)).executor.submit(intent)

    async def cancel(self, order: OrderReport) -> OrderReport:
        return await (await self.kis_for(order.account.user_id)).executor.cancel(order)
