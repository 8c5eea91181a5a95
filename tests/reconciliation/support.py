"""Builders and in-test doubles shared by the reconciliation tests (no adapters/fake on purpose)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from adapters.fake import FakeClock
from orchestrator.domain.errors import SourceUnavailable
from orchestrator.domain.model import (
    AccountKind,
    AccountRef,
    CashBalance,
    Direction,
    Institution,
    OrderReport,
    OrderState,
    Position,
    Side,
    Snapshot,
    Transaction,
)
from orchestrator.domain.reconciliation import AccountBook, Reading, RecordedFill

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # 10:00 KST, a Monday
BASE_AT = NOW - timedelta(hours=3)
LONG_AGO = NOW - timedelta(hours=2)

SAMSUNG = AccountRef(
    user_id="demo",
    account_id="samsung-cma",
    institution=Institution.SAMSUNG_SECURITIES,
    kind=AccountKind.CMA,
    external_ref="120250310000000000240001",
    masked_number="***-****-0001",
)
KIS = AccountRef(
    user_id="demo",
    account_id="kis-main",
    institution=Institution.KIS,
    kind=AccountKind.BROKERAGE,
    external_ref="50012345-01",
    masked_number="5001****-01",
)


def money(value: int | str) -> Decimal:
    return Decimal(value)


def position(
    ref: AccountRef,
    symbol: str,
    quantity: int,
    *,
    at: datetime = NOW,
    avg_price: int = 50000,
    last_price: Decimal | None = None,
    name: str = "",
) -> Position:
    return Position(
        account=ref,
        symbol=symbol,
        quantity=quantity,
        avg_price=Decimal(avg_price),
        as_of=at,
        name=name,
        last_price=last_price,
    )


def tx(
    ref: AccountRef, tx_id: str, amount: int, *, at: datetime, direction: Direction = Direction.OUT
) -> Transaction:
    return Transaction(
        account=ref, tx_id=tx_id, occurred_at=at, direction=direction, amount=Decimal(amount)
    )


def snapshot(
    ref: AccountRef,
    deposit: int | Decimal,
    *,
    at: datetime = NOW,
    positions: Mapping[str, int] | None = None,
    transactions: Sequence[Transaction] = (),
    orderable: int | None = None,
    source: str | None = None,
) -> Snapshot:
    return Snapshot(
        account=ref,
        source=source or _source_of(ref),
        taken_at=at,
        cash=CashBalance(
            account=ref,
            deposit=Decimal(deposit),
            as_of=at,
            orderable=None if orderable is None else Decimal(orderable),
        ),
        positions=tuple(position(ref, s, q, at=at) for s, q in (positions or {}).items()),
        transactions=tuple(transactions),
    )


def _source_of(ref: AccountRef) -> str:
    return "openbanking" if ref.institution is Institution.SAMSUNG_SECURITIES else "kis"


def reading(snap: Snapshot, *, transactions: bool | None = None, positions: bool = True) -> Reading:
    feed = bool(snap.transactions) if transactions is None else transactions
    return Reading(
        user_id=snap.account.user_id,
        account_id=snap.account.account_id,
        source=snap.source,
        taken_at=snap.taken_at,
        snapshot=snap,
        positions_read=positions,
        transactions_read=feed,
    )


def book(
    observed: Snapshot,
    baseline: Snapshot | None = None,
    *,
    transactions: bool | None = None,
    **kw: Any,
) -> AccountBook:
    return AccountBook(
        reading=reading(observed, transactions=transactions), baseline=baseline, **kw
    )


def fill(
    ref: AccountRef,
    symbol: str,
    side: Side,
    quantity: int,
    price: int,
    *,
    at: datetime,
    intent: str = "i-1",
) -> RecordedFill:
    return RecordedFill(
        intent_id=intent,
        account_id=ref.account_id,
        symbol=symbol,
        side=side,
        quantity=quantity,
        filled_at=at,
        price=Decimal(price),
    )


def broker_order(
    order_id: str,
    *,
    symbol: str = "005930",
    side: Side = Side.BUY,
    quantity: int = 10,
    filled: int = 0,
    state: OrderState = OrderState.ACCEPTED,
    at: datetime = LONG_AGO,
) -> OrderReport:
    return OrderReport(
        order_id=order_id,
        account=KIS,
        symbol=symbol,
        side=side,
        quantity=quantity,
        state=state,
        placed_at=at,
        limit_price=Decimal(70000),
        filled_quantity=filled,
    )


# --- doubles for the service tests ------------------------------------------------------------


@dataclass
class FakeSource:
    """An AccountSource in memory that records every read and can fail on demand."""

    name: str
    refs: list[AccountRef]
    balances: dict[str, Decimal] = field(default_factory=dict)
    holdings: dict[str, dict[str, int]] = field(default_factory=dict)
    history: dict[str, list[Transaction]] = field(default_factory=dict)
    clock: FakeClock | None = None
    fail: Exception | None = None
    reads: list[tuple[str, str, bool]] = field(default_factory=list)

    def _now(self) -> datetime:
        return self.clock.now() if self.clock is not None else NOW

    async def accounts(self, user_id: str) -> Sequence[AccountRef]:
        return [r for r in self.refs if r.user_id == user_id]

    async def cash(self, account: AccountRef, *, fresh: bool = False) -> CashBalance:
        self.reads.append(("cash", account.account_id, fresh))
        if self.fail is not None:
            raise self.fail
        return CashBalance(
            account=account, deposit=self.balances[account.account_id], as_of=self._now()
        )

    async def positions(self, account: AccountRef, *, fresh: bool = False) -> Sequence[Position]:
        self.reads.append(("positions", account.account_id, fresh))
        if self.fail is not None:
            raise self.fail
        held = self.holdings.get(account.account_id, {})
        return [
            position(account, s, q, at=self._now(), last_price=Decimal(70000))
            for s, q in held.items()
        ]

    async def transactions(
        self, account: AccountRef, start: date, end: date
    ) -> AsyncIterator[Transaction]:
        self.reads.append(("transactions", account.account_id, True))
        if self.fail is not None:
            raise self.fail
        for t in self.history.get(account.account_id, []):
            yield t


def down(source: str = "kis") -> SourceUnavailable:
    return SourceUnavailable(source, "upstream answered 503")


@dataclass
class FakeOrderList:
    name: str = "kis"
    orders: list[OrderReport] = field(default_factory=list)
    fail: Exception | None = None

    async def orders_since(self, account: AccountRef, since: datetime) -> Sequence[OrderReport]:
        if self.fail is not None:
            raise self.fail
        return [o for o in self.orders if o.placed_at >= since]
