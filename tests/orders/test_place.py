"""Placing orders: sent once, whatever the broker answers (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from decimal import Decimal

import pytest

from adapters.db.audit import DbAuditLog
from orchestrator.domain.errors import (
    GuardrailViolation,
    OrderOutcomeUnknown,
    OrderRejected,
    RateLimited,
    SourceUnavailable,
)
from orchestrator.domain.model import (
    AccountRef,
    OrderIntent,
    OrderReport,
    OrderState,
    OrderType,
    Side,
)
from orchestrator.ports import workflows as wf
from orchestrator.ports.orders import OrderQuery
from orchestrator.services.order_sending import OrderPolicy
from orchestrator.services.orders import IdempotencyConflict, OrderService
from orchestrator.services.workflow_support import WorkflowOrders
from tests.orders.conftest import ACCOUNT, OTHER, Harness, buy

SETTLE = OrderPolicy().settle_after + timedelta(seconds=1)


async def test_accepted_order_records_broker_id_and_branch(
    harness: Harness, service: OrderService
) -> None:
    """An acknowledged order is ACCEPTED with the broker's order id and branch."""
    record = await service.place(buy("k1"))

    assert record.state is OrderState.ACCEPTED
    assert record.broker_order_id == harness.broker.book[0].order_id
    assert record.branch == "00950"
    assert record.broker_order_day == "20261123"
    assert record.attempts == 1
    assert await harness.journal.get(record.id) == record


async def test_lost_reply_is_resolved_from_the_order_list_and_never_resent(
    harness: Harness, service: OrderService
) -> None:
    """A booked order whose reply was lost is found in the broker's list; one order exists."""
    harness.broker.fail_next(OrderOutcomeUnknown("fake-kis", "read timeout"))

    record = await service.place(buy("k1"))

    assert record.state is OrderState.ACCEPTED
    assert len(harness.broker.sent) == 1
    assert len(harness.broker.book) == 1
    assert record.broker_order_id == harness.broker.book[0].order_id
    assert record.resolved_at is not None


async def test_rejection_is_recorded_with_its_code_and_never_resent(
    harness: Harness, service: OrderService
) -> None:
    """A broker rejection ends REJECTED with its code; placing the key again sends nothing."""
    harness.broker.fail_next(OrderRejected("fake-kis", "insufficient funds", code="APBK0952"))

    first = await service.place(buy("k1"))
    again = await service.place(buy("k1"))

    assert first.state is OrderState.REJECTED
    assert first.reject_code == "APBK0952"
    assert again == first
    assert len(harness.broker.sent) == 1
    assert harness.broker.book == []


async def test_rate_limited_order_is_resent_after_exponential_backoff(harness: Harness) -> None:
    """Gateway refusals are retried after 1s, 2s, 4s; the intent stays PENDING_SUBMIT meanwhile."""
    for _ in range(3):
        harness.broker.fail_next(RateLimited("fake-kis", "EGW00201", code="EGW00201"))
    states: list[OrderState] = []
    sleep = harness.clock.sleep

    async def watching_sleep(seconds: float) -> None:
        [record] = await harness.journal.find(OrderQuery())
        states.append(record.state)
        await sleep(seconds)

    service = OrderService(harness.journal, harness.broker, harness.clock, sleep=watching_sleep)
    await service.recover()

    record = await service.place(buy("k1"))

    assert harness.clock.sleeps == [1.0, 2.0, 4.0]
    assert states == [OrderState.PENDING_SUBMIT] * 3
    assert record.state is OrderState.ACCEPTED
    assert record.attempts == 4
    assert len(harness.broker.sent) == 4
    assert len(harness.broker.book) == 1


async def test_rate_limit_backoff_is_capped_and_bounded(harness: Harness) -> None:
    """Backoff doubles up to 30s, and after the last allowed try the order is REJECTED, unsent."""
    service = await harness.ready_service(max_send_attempts=8)
    for _ in range(8):
        harness.broker.fail_next(RateLimited("fake-kis", "EGW00201", code="EGW00201"))

    record = await service.place(buy("k1"))

    assert harness.clock.sleeps == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert record.state is OrderState.REJECTED
    assert record.reject_code == "EGW00201"
    assert len(harness.broker.sent) == 8
    assert harness.broker.book == []


async def test_replaying_a_key_returns_the_existing_intent_without_sending(
    harness: Harness, service: OrderService
) -> None:
    """A second place() with the same key returns the first outcome and sends nothing."""
    first = await service.place(buy("k1"))

    again = await service.place(buy("k1"))

    assert again == first
    assert len(harness.broker.sent) == 1


async def test_replaying_a_key_for_a_different_order_is_refused(service: OrderService) -> None:
    """Reusing an idempotency key for a different order raises instead of hiding the mistake."""
    await service.place(buy("k1", quantity=10))

    with pytest.raises(IdempotencyConflict):
        await service.place(buy("k1", quantity=11))


async def test_lost_request_becomes_not_found_after_the_settle_window(
    harness: Harness, service: OrderService
) -> None:
    """A lost request stays UNKNOWN while too recent to judge, then is NOT_FOUND; nothing resent."""
    harness.broker.fail_next(OrderOutcomeUnknown("fake-kis", "HTTP 502"), booked=False)

    first = await service.place(buy("k1"))
    harness.clock.advance(SETTLE.total_seconds())
    [settled] = await service.resolve_pending()

    assert first.state is OrderState.UNKNOWN
    assert settled.state is OrderState.NOT_FOUND
    assert settled.broker_order_id is None
    assert len(harness.broker.sent) == 1
    assert harness.broker.book == []


async def test_source_unavailable_on_submit_is_settled_not_resent(
    harness: Harness, service: OrderService
) -> None:
    """SourceUnavailable from submit is UNKNOWN, settled from the list, never resent."""
    harness.broker.fail_next(SourceUnavailable("fake-kis", "ConnectError"))

    first = await service.place(buy("k1"))
    harness.clock.advance(SETTLE.total_seconds())
    settled = await service.resolve(first.id)

    assert first.state is OrderState.UNKNOWN
    assert settled.state is OrderState.NOT_FOUND
    assert len(harness.broker.sent) == 1


async def test_twenty_concurrent_places_with_one_key_send_one_order(
    harness: Harness, service: OrderService
) -> None:
    """Twenty racing place() calls with one idempotency key produce one intent and one order."""
    records = await asyncio.gather(*(service.place(buy("same")) for _ in range(20)))

    assert len({r.id for r in records}) == 1
    assert len(harness.broker.sent) == 1
    assert len(harness.broker.book) == 1
    assert len(await service.list_orders()) == 1


async def test_resolver_never_claims_an_order_another_intent_owns(
    harness: Harness, service: OrderService
) -> None:
    """An identical order already owned by another intent is not taken as the lost one's."""
    owner = await service.place(buy("k1"))
    harness.broker.fail_next(OrderOutcomeUnknown("fake-kis", "HTTP 504"), booked=False)

    lost = await service.place(buy("k2"))
    harness.clock.advance(SETTLE.total_seconds())
    settled = await service.resolve(lost.id)

    assert owner.state is OrderState.ACCEPTED
    assert settled.state is OrderState.NOT_FOUND
    assert len(harness.broker.book) == 1


async def test_unexpected_error_leaves_the_intent_unknown_and_propagates(
    harness: Harness, service: OrderService
) -> None:
    """An unmapped exception from submit marks the intent UNKNOWN (may be out) and is re-raised."""

    async def broken(intent: OrderIntent) -> None:
        raise RuntimeError("bug in the adapter")

    harness.broker.submit = broken  # type: ignore[assignment,method-assign]

    with pytest.raises(RuntimeError):
        await service.place(buy("k1"))

    [record] = await service.list_orders()
    assert record.state is OrderState.UNKNOWN
    assert record.last_error == "RuntimeError: bug in the adapter"


async def test_guard_violation_records_and_sends_nothing(harness: Harness) -> None:
    """A failing pre-trade guard stops the order before the journal or the broker sees it."""

    class NoTrading:
        async def check(self, intent: OrderIntent) -> None:
            raise GuardrailViolation("kill_switch", "trading is halted")

    service = OrderService(
        harness.journal, harness.broker, harness.clock, sleep=harness.clock.sleep, guard=NoTrading()
    )
    await service.recover()

    with pytest.raises(GuardrailViolation):
        await service.place(buy("k1"))

    assert await service.list_orders() == []
    assert harness.broker.sent == []


async def test_orders_are_listed_per_user_and_account(
    harness: Harness, service: OrderService
) -> None:
    """Intents carry user and account; listing filters by them and by state, newest first."""
    await service.place(buy("a1"))
    harness.clock.advance(1)
    await service.place(buy("a2", symbol="000660", price=Decimal("180000")))
    await service.place(buy("b1", account=OTHER, price=None))

    alice = await service.list_orders(user_id="alice")
    bob = await service.list_orders(account_id="kis-bob", states={OrderState.ACCEPTED})
    none = await service.list_orders(states={OrderState.REJECTED})

    assert [r.intent.idempotency_key for r in alice] == ["a2", "a1"]
    assert [r.intent.account for r in bob] == [OTHER]
    assert bob[0].intent.limit_price is None
    assert none == []


async def test_audit_chain_records_placements_rejections_and_resolutions(
    harness: Harness, service: OrderService
) -> None:
    """Each placement, rejection and resolution is an audit event, and the chain verifies."""
    await service.place(buy("ok"))
    harness.broker.fail_next(OrderRejected("fake-kis", "no", code="APBK0952"))
    await service.place(buy("no", quantity=1))
    harness.broker.fail_next(OrderOutcomeUnknown("fake-kis", "timeout"))
    await service.place(buy("lost", quantity=2))

    audit = DbAuditLog(harness.db)
    actions = [e.action for e in reversed(await audit.recent())]

    assert actions == [
        "order.intent_recorded",
        "order.accepted",
        "order.intent_recorded",
        "order.rejected",
        "order.intent_recorded",
        "order.resolved",
    ]
    assert (await audit.verify()).ok


async def test_acknowledged_order_claimed_meanwhile_settles_the_latecomer(
    harness: Harness,
) -> None:
    """An order claimed by a resolver before our reply lands settles as NOT_FOUND: one owner."""
    hook: list[Callable[[], Awaitable[object]]] = []

    class Interleaving:
        name = harness.broker.name
        cancel = harness.broker.cancel
        orders_since = harness.broker.orders_since

        async def submit(self, intent: OrderIntent) -> OrderReport:
            report = await harness.broker.submit(intent)
            while hook:
                await hook.pop()()
            return report

    service = OrderService(
        harness.journal, Interleaving(), harness.clock, sleep=harness.clock.sleep
    )
    await service.recover()
    harness.broker.fail_next(OrderOutcomeUnknown("fake-kis", "HTTP 502"), booked=False)
    lost = await service.place(buy("k1"))
    hook.append(lambda: service.resolve(lost.id))

    late = await service.place(buy("k2"))
    harness.clock.advance(SETTLE.total_seconds())
    settled = await service.resolve(late.id)
    owner = await service.get(lost.id)

    assert late.state is OrderState.UNKNOWN
    assert settled.state is OrderState.NOT_FOUND
    assert owner is not None
    assert owner.broker_order_id == harness.broker.book[0].order_id
    assert len(harness.broker.book) == 1


async def test_workflow_placer_maps_requests_and_outcomes(
    harness: Harness, service: OrderService
) -> None:
    """The workflow runner's OrderPlacer places on the user's account and reports the outcome."""

    async def account_for(user_id: str, account_id: str | None = None) -> AccountRef:
        return {"alice": ACCOUNT, "bob": OTHER}[user_id]

    placer = WorkflowOrders(service, account_for)
    request = wf.WorkflowOrderRequest(
        idempotency_key="wf:daily:2026-11-23:buy:005930",
        user_id="bob",
        symbol="005930",
        side=Side.BUY,
        quantity=2,
        order_type=OrderType.LIMIT,
        limit_price=Decimal("70000"),
        origin="workflow:daily:run-1",
    )
    harness.broker.fail_next(OrderRejected("fake-kis", "no money", code="APBK0952"))

    outcome = await placer.place(request)
    again = await placer.place(request)

    assert outcome.state is OrderState.REJECTED
    assert "APBK0952" in outcome.message
    assert again == outcome
    [record] = await service.list_orders(user_id="bob")
    assert record.intent.origin == "workflow:daily:run-1"
    assert record.intent.account == OTHER
