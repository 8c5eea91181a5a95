"""Chaos: the orders service, the real KIS adapter and the KIS sandbox with faults injected.

200 orders decided; 10 % of requests answered 5xx, 5 % refused with EGW00201, 5 % booked with the
reply lost. Exactly 200 orders must end up at the broker, none twice, every intent resolved.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from adapters.db.engine import Database
from adapters.db.orders import DbOrderJournal
from orchestrator.domain.model import OrderState, OrderType, Side
from orchestrator.services.orders import OrderRequest, OrderService
from tests.adapters.kis.conftest import ORDER_CASH, HarnessFactory
from tests.support.databases import cipher_for_tests, fresh_database

DECISIONS = 200
SYMBOLS = ("005930", "069500", "114260", "000660")
LIVE = {OrderState.ACCEPTED, OrderState.PARTIALLY_FILLED, OrderState.FILLED}


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    async with fresh_database("sqlite", tmp_path) as database:
        yield database


async def test_chaos_ends_with_exactly_one_order_per_decision(
    make_harness: HarnessFactory, seed_data: dict[str, Any], sqlite_db: Database
) -> None:
    """Lost replies, 5xx and rate limits never produce a duplicate or a missing order."""
    seed = copy.deepcopy(seed_data)
    seed["envs"]["real"]["accounts"][0]["cash"] = 5_000_000_000
    h = await make_harness("real", seed=seed)
    await h.control("/_sandbox/clock", {"session": "open"})
    await h.faults(
        error_5xx={"rate": 0.10},
        rate_limit={"rate": 0.05},
        lost_reply={"rate": 0.05},
        seed=20261123,
    )
    service = OrderService(
        DbOrderJournal(sqlite_db, cipher_for_tests()), h.kis.executor, h.time, sleep=h.time.sleep
    )
    await service.recover()
    outcome: dict[int, OrderState] = {}
    attempts: Counter[int] = Counter()

    async def decide(i: int) -> None:
        attempts[i] += 1
        record = await service.place(
            OrderRequest(
                idempotency_key=f"chaos-{i}-{attempts[i]}",
                account=h.account,
                symbol=SYMBOLS[i % len(SYMBOLS)],
                side=Side.BUY,
                quantity=1 + i % 3,
                order_type=OrderType.MARKET,
            )
        )
        outcome[i] = record.state

    for i in range(DECISIONS):
        await decide(i)
    for _ in range(30):  # bounded: settle unknowns, re-decide what never reached the broker
        open_decisions = [i for i, state in outcome.items() if state not in LIVE]
        if not open_decisions:
            break
        await h.time.sleep(61)
        await service.resolve_pending()
        for i in open_decisions:
            latest = await service.list_orders(limit=1_000)
            states = {r.intent.idempotency_key: r.state for r in latest}
            state = states[f"chaos-{i}-{attempts[i]}"]
            outcome[i] = state
            if state in (OrderState.NOT_FOUND, OrderState.REJECTED):
                await decide(i)

    records = await service.list_orders(limit=1_000)
    booked = [o for o in h.orders() if o.odno]
    owners = Counter(r.broker_order_id for r in records if r.broker_order_id)
    injected = (await h.control("/_sandbox/faults"))["injected"]

    assert all(state in LIVE for state in outcome.values()), Counter(outcome.values())
    assert len(booked) == DECISIONS
    assert len({o.odno for o in booked}) == DECISIONS
    assert len(owners) == DECISIONS
    assert max(owners.values()) == 1
    assert not [r for r in records if r.state.unresolved]
    assert h.spy.count(ORDER_CASH) > DECISIONS  # faults really forced resends of refused orders
    assert injected.get("lost_reply", 0) > 0
    assert injected.get("error_5xx", 0) > 0
    assert injected.get("rate_limit", 0) > 0
