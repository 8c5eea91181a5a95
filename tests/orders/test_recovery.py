"""Start-up recovery: no new order until everything an earlier run left open is settled."""

from __future__ import annotations

from datetime import timedelta

import pytest

from orchestrator.domain.errors import SourceUnavailable
from orchestrator.domain.model import AuditEvent, OrderState
from orchestrator.ports.orders import OrderRecord
from orchestrator.services.orders import OrderPolicy, OrdersNotReady
from tests.orders.conftest import Harness, buy


async def _crash_after_recording(harness: Harness, key: str, *, booked: bool) -> OrderRecord:
    """Commit an intent as place() does, then 'crash' before (or right after) sending it."""
    intent = buy(key).intent(f"oi-{key}", harness.clock.now())
    event = AuditEvent(
        at=harness.clock.now(), actor="t", action="order.intent_recorded", subject=key
    )
    record, _ = await harness.journal.record(intent, broker=harness.broker.name, audit=event)
    if booked:
        await harness.broker.submit(intent)
    return record


async def test_place_is_refused_until_recovery_has_run(harness: Harness) -> None:
    """A new service accepts no order before recover() has finished."""
    service = harness.service()

    with pytest.raises(OrdersNotReady):
        await service.place(buy("k1"))

    await service.recover()
    assert (await service.place(buy("k1"))).state is OrderState.ACCEPTED


async def test_pending_intent_never_sent_is_not_found_before_orders_resume(
    harness: Harness,
) -> None:
    """A PENDING_SUBMIT left by a crash before sending ends NOT_FOUND; only then may orders go."""
    crashed = await _crash_after_recording(harness, "k1", booked=False)
    service = harness.service()

    with pytest.raises(OrdersNotReady):
        await service.place(buy("k2"))
    report = await service.recover()

    [settled] = report.settled
    assert settled.id == crashed.id
    assert settled.state is OrderState.NOT_FOUND
    assert report.waited_seconds >= OrderPolicy().settle_after.total_seconds()
    assert harness.broker.sent == []
    assert (await service.place(buy("k2"))).state is OrderState.ACCEPTED


async def test_pending_intent_booked_before_crash_is_found_not_resent(harness: Harness) -> None:
    """A PENDING_SUBMIT whose order reached the broker before the crash is matched, not resent."""
    crashed = await _crash_after_recording(harness, "k1", booked=True)

    report = await harness.service().recover()

    [settled] = report.settled
    assert settled.id == crashed.id
    assert settled.state is OrderState.ACCEPTED
    assert settled.broker_order_id == harness.broker.book[0].order_id
    assert len(harness.broker.sent) == 1
    assert len(harness.broker.book) == 1
    assert report.waited_seconds == 0


async def test_pending_intent_from_long_ago_settles_without_waiting(harness: Harness) -> None:
    """A crash well past the settle window leaves nothing to wait for: NOT_FOUND at once."""
    await _crash_after_recording(harness, "k1", booked=False)
    harness.clock.advance(timedelta(hours=1).total_seconds())

    report = await harness.service().recover()

    assert [r.state for r in report.settled] == [OrderState.NOT_FOUND]
    assert report.waited_seconds == 0


async def test_unknown_intents_are_matched_to_identical_orders_one_each(harness: Harness) -> None:
    """Two identical crashed intents, one booked: one claims the order, the other is NOT_FOUND."""
    await _crash_after_recording(harness, "k1", booked=True)
    await _crash_after_recording(harness, "k2", booked=False)

    report = await harness.service().recover()

    states = sorted(r.state for r in report.settled)
    assert states == [OrderState.ACCEPTED, OrderState.NOT_FOUND]
    assert len(harness.broker.book) == 1


async def test_recovery_retries_an_unreadable_order_list_with_backoff(harness: Harness) -> None:
    """While the broker's list cannot be read, recovery waits with backoff and then settles."""
    await _crash_after_recording(harness, "k1", booked=True)
    harness.broker.fail_next_list(SourceUnavailable("fake-kis", "HTTP 503"))
    harness.broker.fail_next_list(SourceUnavailable("fake-kis", "HTTP 503"))
    service = harness.service()

    report = await service.recover()

    assert harness.sleep.calls == [1.0, 2.0]
    assert [r.state for r in report.settled] == [OrderState.ACCEPTED]
    assert service.ready


async def test_recovery_that_cannot_settle_keeps_orders_closed(harness: Harness) -> None:
    """When the list stays unreadable past the recovery timeout, orders stay refused."""
    await _crash_after_recording(harness, "k1", booked=False)
    for _ in range(10):
        harness.broker.fail_next_list(SourceUnavailable("fake-kis", "HTTP 503"))
    service = harness.service(recovery_timeout=10.0)

    with pytest.raises(OrdersNotReady):
        await service.recover()

    assert not service.ready
    with pytest.raises(OrdersNotReady):
        await service.place(buy("k2"))


async def test_in_flight_pending_intent_is_left_alone_by_periodic_resolution(
    harness: Harness,
) -> None:
    """resolve_pending() does not touch a young PENDING_SUBMIT: it may be being sent right now."""
    service = await harness.ready_service()
    await _crash_after_recording(harness, "k1", booked=False)

    [young] = await service.resolve_pending()
    harness.clock.advance(timedelta(minutes=11).total_seconds())
    [old] = await service.resolve_pending()

    assert young.state is OrderState.PENDING_SUBMIT
    assert old.state is OrderState.NOT_FOUND
