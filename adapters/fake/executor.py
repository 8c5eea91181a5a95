"""An in-memory broker behind the OrderExecutor port, for tests and paper mode."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal

from orchestrator.domain.errors import OrderOutcomeUnknown, OrderRejected, SourceError
from orchestrator.domain.model import AccountRef, OrderIntent, OrderReport, OrderState

# KIS answers a cancel of a filled or already-cancelled order with this code (spec §4.2).
NOTHING_TO_CANCEL = "40330000"


@dataclass(frozen=True, slots=True)
class _Failure:
    error: SourceError
    took_effect: bool


def _failure(error: SourceError, took_effect: bool | None) -> _Failure:
    lost_reply = isinstance(error, OrderOutcomeUnknown)
    if took_effect is None:
        took_effect = lost_reply
    if took_effect and not lost_reply:
        # Every other error promises the request did not take effect; faking otherwise would
        # test the service against a broker that cannot exist.
        raise ValueError(f"{type(error).__name__} cannot take effect; use OrderOutcomeUnknown")
    return _Failure(error, took_effect)


class FakeOrderExecutor:
    """A broker with an order book; accepts every order unless a failure was queued.

    `book` is what the pretend broker holds, `sent` every order that reached its gateway (refused
    ones included) and `cancels_sent` every cancel request. A queued OrderOutcomeUnknown lands the
    order in the book by default (the broker has it, the caller never heard back); pass
    `booked=False` for a lost request. RateLimited, SourceUnavailable and OrderRejected never book.
    """

    def __init__(
        self,
        name: str = "fake",
        clock: Callable[[], datetime] | None = None,
        *,
        branch: str = "00950",
    ) -> None:
        self._name = name
        self._clock = clock or (lambda: datetime.now(UTC))
        self._branch = branch
        self._ids = itertools.count(1)
        self._orders: dict[str, OrderReport] = {}
        self._submit_failures: list[_Failure] = []
        self._cancel_failures: list[_Failure] = []
        self._list_failures: list[SourceError] = []
        self.sent: list[OrderIntent] = []
        self.cancels_sent: list[str] = []

    @property
    def name(self) -> str:
        return self._name

    @property
    def book(self) -> list[OrderReport]:
        """Every order the broker holds, in the order it booked them."""
        return list(self._orders.values())

    def fail_next(self, error: SourceError, *, booked: bool | None = None) -> None:
        """Make the next submit() raise `error`; `booked` says whether the order lands anyway."""
        self._submit_failures.append(_failure(error, booked))

    def fail_next_cancel(self, error: SourceError, *, applied: bool | None = None) -> None:
        """Make the next cancel() raise `error`; `applied`: whether the cancel happens anyway."""
        self._cancel_failures.append(_failure(error, applied))

    def fail_next_list(self, error: SourceError) -> None:
        """Make the next orders_since() raise `error`."""
        self._list_failures.append(error)

    def fill(self, order_id: str, quantity: int, price: Decimal) -> OrderReport:
        """Execute `quantity` more shares of a live order at `price` (what the exchange does)."""
        if not isinstance(price, Decimal):
            raise TypeError("fill prices are Decimal")
        order = self._orders[order_id]
        if order.cancelled or quantity <= 0 or quantity > order.quantity - order.filled_quantity:
            raise ValueError(f"cannot fill {quantity} of order {order_id}")
        cumulative = order.filled_quantity + quantity
        paid = (order.avg_fill_price or Decimal(0)) * order.filled_quantity + price * quantity
        done = cumulative == order.quantity
        updated = replace(
            order,
            filled_quantity=cumulative,
            avg_fill_price=paid / cumulative,
            state=OrderState.FILLED if done else OrderState.PARTIALLY_FILLED,
        )
        self._orders[order_id] = updated
        return updated

    async def submit(self, intent: OrderIntent) -> OrderReport:
        # A real round trip yields to the event loop; so does this, so concurrency tests interleave.
        await asyncio.sleep(0)
        self.sent.append(intent)
        failure = self._submit_failures.pop(0) if self._submit_failures else None
        if failure is not None and not failure.took_effect:
            raise failure.error
        report = OrderReport(
            order_id=f"{next(self._ids):010d}",
            account=intent.account,
            symbol=intent.symbol,
            side=intent.side,
            quantity=intent.quantity,
            state=OrderState.ACCEPTED,
            placed_at=self._clock(),
            order_type=intent.order_type,
            limit_price=intent.limit_price,
            branch=self._branch,
        )
        self._orders[report.order_id] = report
        if failure is not None:
            raise failure.error
        return report

    async def cancel(self, order: OrderReport) -> OrderReport:
        await asyncio.sleep(0)
        self.cancels_sent.append(order.order_id)
        failure = self._cancel_failures.pop(0) if self._cancel_failures else None
        if failure is not None and not failure.took_effect:
            raise failure.error
        current = self._orders.get(order.order_id)
        if current is None or current.cancelled or current.filled_quantity >= current.quantity:
            raise OrderRejected(self._name, "nothing left to cancel", code=NOTHING_TO_CANCEL)
        updated = replace(current, cancelled=True, state=OrderState.CANCELLED)
        self._orders[order.order_id] = updated
        if failure is not None:
            raise failure.error
        return updated

    async def orders_since(self, account: AccountRef, since: datetime) -> Sequence[OrderReport]:
        await asyncio.sleep(0)
        if self._list_failures:
            raise self._list_failures.pop(0)
        # A broker knows the account by its number, not by our ids.
        return sorted(
            (
                r
                for r in self._orders.values()
                if r.account.external_ref == account.external_ref and r.placed_at >= since
            ),
            key=lambda r: (r.placed_at, r.order_id),
        )
