"""Ports to upstream systems (brokers, banks, market data, notifications) and the clock.

Adapters satisfy these without inheriting from them; `orchestrator.bootstrap` is the only place that
decides which adapter stands behind which port. Every method states what it returns, what it may
raise (from `orchestrator.domain.errors`) and whether calling it twice is safe.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import date, datetime
from typing import Protocol, runtime_checkable

from orchestrator.domain.alerts import Alert
from orchestrator.domain.model import (
    AccountRef,
    AuditEvent,
    CashBalance,
    OrderEvent,
    OrderIntent,
    OrderReport,
    Position,
    Quote,
    Transaction,
)


class Clock(Protocol):
    """The only way core code learns the time (tests pass a fake)."""

    def now(self) -> datetime:
        """Current time, timezone-aware UTC."""
        ...


class AccountSource(Protocol):
    """A read-only view of accounts as one outside system sees them.

    Display reads may be served from a short cache (30-60 s); `fresh=True` bypasses every cache and
    is what reconciliation uses. A display read whose upstream is down may return the last value
    with `stale=True`. Failures surface as SourceUnavailable (retry later), AuthError /
    ConsentRequired (renew credentials) or AccountUnknown. Safe to call repeatedly.
    """

    @property
    def name(self) -> str: ...

    async def accounts(self, user_id: str) -> Sequence[AccountRef]:
        """Every account the source can read for the user."""
        ...

    async def cash(self, account: AccountRef, *, fresh: bool = False) -> CashBalance:
        """Cash of the account (fields the source does not report are None)."""
        ...

    async def positions(self, account: AccountRef, *, fresh: bool = False) -> Sequence[Position]:
        """Holdings of the account; an empty sequence for a cash-only account."""
        ...

    def transactions(
        self, account: AccountRef, start: date, end: date
    ) -> AsyncIterator[Transaction]:
        """Every transaction in [start, end] (KST dates), streamed page by page, oldest first."""
        ...


@runtime_checkable
class CashAndPositionsSource(Protocol):
    """An AccountSource that can read cash and holdings fresh in one pass, from one reply.

    Reconciliation uses it when a source offers it: one read instead of two, and cash and
    holdings that agree with each other. Same errors as `cash` and `positions`; safe to repeat.
    """

    async def cash_and_positions(
        self, account: AccountRef
    ) -> tuple[CashBalance, Sequence[Position]]:
        """Cash and holdings of the account, read fresh (never from a cache)."""
        ...


class OrderExecutor(Protocol):
    """Places and cancels orders with one broker and reports what the broker holds."""

    @property
    def name(self) -> str: ...

    async def submit(self, intent: OrderIntent) -> OrderReport:
        """Send the order exactly once and return the broker's acknowledgement.

        Raises RateLimited when the gateway refused it before acceptance (may be sent again after
        backoff), OrderRejected when the broker refused it (never resend), and OrderOutcomeUnknown
        when it may have arrived without a reply (settle with orders_since; never resend).
        Not safe to call twice for the same intent.
        """
        ...

    async def cancel(self, order: OrderReport) -> OrderReport:
        """Cancel the unfilled remainder. Same error contract as submit()."""
        ...

    async def orders_since(self, account: AccountRef, since: datetime) -> Sequence[OrderReport]:
        """Every order the broker holds for the account placed at or after `since`.

        Safe to repeat.
        """
        ...


class MarketData(Protocol):
    """Last prices. Raises SourceUnavailable when the feed is down."""

    async def quote(self, symbol: str) -> Quote: ...


class OrderEventSink(Protocol):
    """Where a real-time order stream delivers (the order service)."""

    async def on_order_event(self, event: OrderEvent) -> object:
        """Apply one broker notice to our order state. Must not raise for unknown orders."""
        ...

    async def on_stream_resumed(self, account: AccountRef) -> int:
        """The stream was (re)connected and subscribed: fill any gap from the broker's order
        list. Returns the number of orders whose fills were brought up to date."""
        ...


class OrderEventStream(Protocol):
    """A broker's real-time order notices (and prices), e.g. a websocket session."""

    @property
    def account(self) -> AccountRef: ...

    async def run(self, sink: OrderEventSink) -> None:
        """Deliver events until cancelled, reconnecting on its own."""
        ...


class Notifier(Protocol):
    """Delivers alerts to operators. Must not raise: a failed delivery is logged, not fatal."""

    async def notify(self, alert: Alert) -> None: ...


class AuditLog(Protocol):
    """Append-only, hash-chained record of what happened and who did it."""

    async def append(self, event: AuditEvent) -> None:
        """Add the event after the last one; never rewrites history."""
        ...
