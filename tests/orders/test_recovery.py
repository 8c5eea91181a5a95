"""Start-up recovery: no new order until one pass has settled what an earlier run left open."""

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


async def test_order_left_by_a_dead_process_does_not_stall_the_next_order(
    harness: Harness,
) -> None:
    """A PENDING_SUBMIT left by a crash before sending becomes UNKNOWN (never resent); the next
    order goes at once, and upkeep settles the old one NOT_FOUND once the settle window passed."""
    crashed = await _crash_after_recording(harness, "k1", booked=False)
    service = harness.service()

    with pytest.raises(OrdersNotReady):
        await service.place(buy("k2"))
    report = await service.recover()

    assert report.waited_seconds == 0
    assert harness.clock.sleeps == []
    assert report.settled == ()
    assert [(r.id, r.state) for r in report.unknown] == [(crashed.id, OrderState.UNKNOWN)]
    assert (await service.place(buy("k2"))).state is OrderState.ACCEPTED
    harness.clock.advance(OrderPolicy().settle_after.total_seconds())
    settled = {r.id: r.state for r in await service.resolve_pending()}
    assert settled[crashed.id] is OrderState.NOT_FOUND
    assert len(harness.broker.sent) == 1


async def test_key_of_an_order_the_broker_booked_late_answers_accepted(harness: Harness) -> None:
    """The dead process's request reached the broker only after recovery had read the list (a slow
    broker): placing the key again finds it (ACCEPTED) and sends nothing."""
    crashed = await _crash_after_recording(harness, "k1", booked=False)
    service = harness.service()
    report = await service.recover()
    assert [r.id for r in report.unknown] == [crashed.id]
    await harness.broker.submit(crashed.intent)

    again = await service.place(buy("k1"))

    assert again.id == crashed.id
    assert again.state is OrderState.ACCEPTED
    assert again.broker_order_id == harness.broker.book[0].order_id
    assert len(harness.broker.sent) == 1


async def test_key_of_an_order_never_sent_answers_not_found_after_the_window(
    harness: Harness,
) -> None:
    """Placing the key again inside the settle window answers UNKNOWN; after it NOT_FOUND, without
    any upkeep pass and without sending."""
    crashed = await _crash_after_recording(harness, "k1", booked=False)
    service = harness.service()
    await service.recover()

    early = await service.place(buy("k1"))
    harness.clock.advance(OrderPolicy().settle_after.total_seconds())
    late = await service.place(buy("k1"))

    assert early.state is OrderState.UNKNOWN
    assert (late.id, late.state) == (crashed.id, OrderState.NOT_FOUND)
    assert harness.broker.sent == []


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

    service = harness.service()
    report = await service.recover()
    harness.clock.advance(OrderPolicy().settle_after.total_seconds())
    later = await service.resolve_pending()

    assert [r.state for r in report.settled] == [OrderState.ACCEPTED]
    assert [r.state for r in report.unknown] == [OrderState.UNKNOWN]
    assert [r.state for r in later] == [OrderState.NOT_FOUND]
    assert len(harness.broker.book) == 1


async def test_recovery_retries_an_unreadable_order_list_with_backoff(harness: Harness) -> None:
    """While the broker's list cannot be read, recovery waits with backoff and then settles."""
    await _crash_after_recording(harness, "k1", booked=True)
    harness.broker.fail_next_list(SourceUnavailable("fake-kis", "HTTP 503"))
    harness.broker.fail_next_list(SourceUnavailable("fake-kis", "HTTP 503"))
    service = harness.service()

    report = await service.recover()

    assert harness.clock.sleeps == [1.0, 2.0]
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
