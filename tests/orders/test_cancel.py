"""Cancels: recorded first, sent once, a lost reply settled from the order list."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from adapters.fake import NOTHING_TO_CANCEL
from orchestrator.domain.errors import OrderOutcomeUnknown, OrderRejected
from orchestrator.domain.model import OrderReport, OrderState
from orchestrator.ports.orders import CancelState, OrderChange
from orchestrator.services.orders import OrderNotCancellable, OrderPolicy, OrderService
from tests.orders.conftest import Harness, buy

SETTLE = (OrderPolicy().settle_after + timedelta(seconds=1)).total_seconds()


async def test_cancel_is_recorded_sent_once_and_confirmed(
    harness: Harness, service: OrderService
) -> None:
    """A cancel is recorded, sent once, and CANCELLED; asking again sends nothing."""
    placed = await service.place(buy("k1"))

    cancelled = await service.cancel(placed.id)
    again = await service.cancel(placed.id)

    assert cancelled.state is OrderState.CANCELLED
    assert cancelled.cancel_state is CancelState.CONFIRMED
    assert cancelled.cancel_requested_at == harness.clock.now()
    assert again == cancelled
    assert harness.broker.cancels_sent == [placed.broker_order_id]
    assert harness.broker.book[0].cancelled


async def test_cancel_with_lost_reply_is_resolved_from_the_order_list(
    harness: Harness, service: OrderService
) -> None:
    """A cancel that took effect without a reply is confirmed from the list, never resent."""
    placed = await service.place(buy("k1"))
    harness.broker.fail_next_cancel(OrderOutcomeUnknown("fake-kis", "read timeout"))

    cancelled = await service.cancel(placed.id)

    assert cancelled.state is OrderState.CANCELLED
    assert cancelled.cancel_state is CancelState.CONFIRMED
    assert len(harness.broker.cancels_sent) == 1


async def test_cancel_that_never_arrived_is_not_found_and_may_be_sent_again(
    harness: Harness, service: OrderService
) -> None:
    """A lost cancel request is NOT_FOUND once the order is still open after the window."""
    placed = await service.place(buy("k1"))
    harness.broker.fail_next_cancel(OrderOutcomeUnknown("fake-kis", "HTTP 502"), applied=False)

    unknown = await service.cancel(placed.id)
    harness.clock.advance(SETTLE)
    [settled] = await service.resolve_pending()
    retried = await service.cancel(placed.id)

    assert unknown.cancel_state is CancelState.UNKNOWN
    assert settled.cancel_state is CancelState.NOT_FOUND
    assert settled.state is OrderState.ACCEPTED
    assert retried.state is OrderState.CANCELLED
    assert len(harness.broker.cancels_sent) == 2


async def test_cancel_of_a_filled_order_is_refused_and_the_fill_recorded(
    harness: Harness, service: OrderService
) -> None:
    """The broker refuses to cancel a filled order; the cancel is REJECTED, the fill recorded."""
    placed = await service.place(buy("k1"))
    assert placed.broker_order_id is not None
    harness.broker.fill(placed.broker_order_id, 10, Decimal("70000"))

    refused = await service.cancel(placed.id)
    await service.sync_fills(placed.intent.account)
    final = await service.get(placed.id)

    assert refused.cancel_state is CancelState.REJECTED
    assert refused.last_error is not None
    assert NOTHING_TO_CANCEL in refused.last_error
    assert final is not None
    assert final.state is OrderState.FILLED


async def test_cancel_refused_by_the_broker_is_recorded(
    harness: Harness, service: OrderService
) -> None:
    """A broker refusal of a cancel is recorded as REJECTED and the order stays live."""
    placed = await service.place(buy("k1"))
    harness.broker.fail_next_cancel(OrderRejected("fake-kis", "auction", code="APBK3013"))

    refused = await service.cancel(placed.id)

    assert refused.state is OrderState.ACCEPTED
    assert refused.cancel_state is CancelState.REJECTED


async def test_cancel_left_requested_by_a_crash_is_settled_at_startup(harness: Harness) -> None:
    """A cancel recorded but maybe not sent before a crash is settled from the list at start-up."""
    service = await harness.ready_service()
    placed = await service.place(buy("k1"))
    now = harness.clock.now()
    await harness.journal.update(
        placed.id,
        OrderChange(at=now, cancel_requested_at=now, cancel_state=CancelState.REQUESTED),
        expect={OrderState.ACCEPTED},
    )
    await harness.broker.cancel(await _report(harness, placed.id))

    report = await harness.service().recover()

    [settled] = report.settled
    assert settled.state is OrderState.CANCELLED
    assert settled.cancel_state is CancelState.CONFIRMED
    assert len(harness.broker.cancels_sent) == 1


async def test_unresolved_order_cannot_be_cancelled(
    harness: Harness, service: OrderService
) -> None:
    """Only an order known to be live at the broker can be cancelled."""
    harness.broker.fail_next(OrderOutcomeUnknown("fake-kis", "HTTP 502"), booked=False)
    unknown = await service.place(buy("k1"))

    with pytest.raises(OrderNotCancellable):
        await service.cancel(unknown.id)

    assert harness.broker.cancels_sent == []


async def _report(harness: Harness, intent_id: str) -> OrderReport:
    record = await harness.journal.get(intent_id)
    assert record is not None
    [report] = [r for r in harness.broker.book if r.order_id == record.broker_order_id]
    return report
