"""Chaos: many orders through a broker that fails in every way it can, none duplicated."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import timedelta
from decimal import Decimal

from orchestrator.domain.errors import OrderOutcomeUnknown, RateLimited, SourceUnavailable
from orchestrator.domain.model import OrderState
from orchestrator.ports.orders import OrderRecord
from orchestrator.services.orders import OrderPolicy, OrderService
from tests.orders.conftest import Harness, buy

DECISIONS = 200
# Few symbols and sizes, so that many orders are identical and resolution must pair them right.
PRICES = {"005930": Decimal("70000"), "000660": Decimal("180000"), "035420": Decimal("210000")}
SETTLE = (OrderPolicy().settle_after + timedelta(seconds=1)).total_seconds()


def _inject(harness: Harness, rng: random.Random) -> None:
    broker = harness.broker
    roll = rng.random()
    if roll < 0.05:
        broker.fail_next(OrderOutcomeUnknown("fake-kis", "HTTP 502 before booking"), booked=False)
    elif roll < 0.10:
        broker.fail_next(OrderOutcomeUnknown("fake-kis", "HTTP 500 after booking"), booked=True)
    elif roll < 0.15:
        for _ in range(rng.randint(1, 3)):
            broker.fail_next(RateLimited("fake-kis", "EGW00201", code="EGW00201"))
    elif roll < 0.20:
        broker.fail_next(OrderOutcomeUnknown("fake-kis", "read timeout"), booked=True)
    if rng.random() < 0.03:
        broker.fail_next_list(SourceUnavailable("fake-kis", "HTTP 503 on the order list"))


async def _place(harness: Harness, service: OrderService, rng: random.Random, key: str) -> None:
    _inject(harness, rng)
    symbol = key.split("/")[1]
    await service.place(
        buy(key, symbol=symbol, quantity=int(key.split("/")[2]), price=PRICES[symbol])
    )


async def test_two_hundred_orders_through_a_failing_broker_end_once_each(
    harness: Harness, service: OrderService
) -> None:
    """200 decisions under lost replies, lost requests and rate limits yield exactly 200 orders."""
    rng = random.Random(20261123)
    decisions = {
        f"d{i:03d}": f"{rng.choice(list(PRICES))}/{rng.randint(1, 3)}" for i in range(DECISIONS)
    }
    tries: Counter[str] = Counter()
    done: set[str] = set()

    rounds = 0
    for _ in range(50):
        rounds += 1
        by_decision: dict[str, list[OrderRecord]] = defaultdict(list)
        for record in await service.list_orders(limit=10_000):
            by_decision[record.intent.idempotency_key.split("/")[0]].append(record)
        for decision, what in decisions.items():
            mine = by_decision[decision]
            if decision in done or any(r.needs_settling for r in mine):
                continue
            if any(r.state is not OrderState.NOT_FOUND for r in mine):
                done.add(decision)
                continue
            tries[decision] += 1
            await _place(harness, service, rng, f"{decision}/{what}/try{tries[decision]}")
        if len(done) == DECISIONS:
            break
        harness.clock.advance(SETTLE)
        await service.resolve_pending()
    else:
        raise AssertionError("the orders never settled")

    records = await service.list_orders(limit=10_000)
    owned = [(r.broker_order_day, r.broker_order_id) for r in records if r.broker_order_id]
    book = [r.order_id for r in harness.broker.book]
    per_decision = Counter(
        r.intent.idempotency_key.split("/")[0] for r in records if r.broker_order_id
    )
    assert len(book) == DECISIONS
    assert len(set(book)) == DECISIONS
    assert sorted(order_id for _, order_id in owned) == sorted(book)
    assert len(set(owned)) == DECISIONS
    assert set(per_decision.values()) == {1}
    assert not [r for r in records if r.needs_settling]
    assert {r.state for r in records} <= {OrderState.ACCEPTED, OrderState.NOT_FOUND}
    # The chaos really happened: orders were lost, found, resent after refusals, given up on.
    assert Counter(r.state for r in records)[OrderState.NOT_FOUND] > 0
    assert len(harness.broker.sent) > DECISIONS + 10
    assert rounds > 1
