"""Real-time notices that beat the order's own reply (OrderService as the stream's sink).

On loopback the fill notice of a market order often arrives while the REST reply is still on
its way. It must wait for the acceptance (the order is unknown until then) without a journal
scan per notice, and then land with it in one journal write; a notice of an order placed
elsewhere, held while our send was in flight, is still applied afterwards.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from adapters.db.audit import DbAuditLog
from orchestrator.domain.model import (
    OrderEvent,
    OrderEventKind,
    OrderIntent,
    OrderReport,
    OrderState,
    Side,
)
from orchestrator.services.orders import OrderService
from tests.orders.conftest import ACCOUNT, Harness, buy

PRICE = Decimal("70000")


class CountingJournal:
    """The journal, counting the calls the service makes."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if not callable(target):
            return target

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return await target(*args, **kwargs)

        return counted


class NoticeFirst:
    """The broker, delivering each order's fill notice before its reply returns."""

    def __init__(self, harness: Harness, service_of: dict[str, OrderService]) -> None:
        self._broker = harness.broker
        self._clock = harness.clock
        self._service_of = service_of
        self.name = self._broker.name
        self.extra: list[OrderEvent] = []  # more notices to deliver in flight

    def __getattr__(self, name: str) -> Any:
        return getattr(self._broker, name)

    async def submit(self, intent: OrderIntent) -> OrderReport:
        report = await self._broker.submit(intent)
        self._broker.fill(report.order_id, intent.quantity, PRICE)
        notice = event(report.order_id, intent.quantity, self._clock.now())
        for early in (notice, *self.extra):
            assert await self._service_of["svc"].on_order_event(early) is None  # held
        return report


def event(order_id: str, quantity: int, at: Any) -> OrderEvent:
    return OrderEvent(
        kind=OrderEventKind.FILLED,
        account_id=ACCOUNT.account_id,
        order_id=order_id,
        symbol="005930",
        side=Side.BUY,
        quantity=quantity,
        at=at,
        price=PRICE,
    )


async def test_a_notice_beating_the_reply_lands_with_the_acceptance_in_one_write(
    harness: Harness,
) -> None:
    """The notice is held (no journal read) while the send is in flight; the acceptance and the
    fill are then one write: state FILLED, one fill row, the acceptance audited, nothing else."""
    holder: dict[str, OrderService] = {}
    broker = NoticeFirst(harness, holder)
    journal = CountingJournal(harness.journal)
    timed: list[float] = []
    service = OrderService(
        journal, broker, harness.clock, sleep=harness.clock.sleep, notice_latency=timed.append
    )
    holder["svc"] = service
    await service.recover()
    journal.calls.clear()

    placed = await service.place(buy("n-1", quantity=5, price=None))
    fills = await service.fills(placed.id)
    audit = [row.action for row in await DbAuditLog(harness.db).recent()]

    assert (placed.state, placed.filled_quantity, placed.avg_fill_price) == (
        OrderState.FILLED,
        5,
        PRICE,
    )
    assert [(f.quantity, f.price) for f in fills] == [(5, PRICE)]
    assert "order.accepted" in audit
    assert "with_broker_orders" not in journal.calls  # held, not looked up
    assert journal.calls.count("update") == 0  # acceptance went with the fill
    assert journal.calls.count("record_fill") == 1
    assert len(timed) == 1  # the held notice is timed when it lands


async def test_a_held_notice_of_an_order_placed_elsewhere_is_applied_after_the_send(
    harness: Harness,
) -> None:
    """A fill notice for an order another process placed arrives while our own send is in
    flight: it is held, and once our send is done it is looked up and applied, once."""
    elsewhere = await harness.ready_service()
    theirs = await elsewhere.place(buy("other-1", quantity=2, price=PRICE))
    assert theirs.state is OrderState.ACCEPTED
    assert theirs.broker_order_id
    harness.broker.fill(theirs.broker_order_id, 2, PRICE)

    holder: dict[str, OrderService] = {}
    broker = NoticeFirst(harness, holder)
    broker.extra.append(event(theirs.broker_order_id, 2, harness.clock.now()))
    service = OrderService(harness.journal, broker, harness.clock, sleep=harness.clock.sleep)
    holder["svc"] = service
    await service.recover()

    ours = await service.place(buy("mine-1", quantity=1, price=None))
    theirs_now = await service.get(theirs.id)

    assert ours.state is OrderState.FILLED
    assert theirs_now is not None
    assert (theirs_now.state, theirs_now.filled_quantity) == (OrderState.FILLED, 2)
    assert [f.quantity for f in await service.fills(theirs.id)] == [2]
