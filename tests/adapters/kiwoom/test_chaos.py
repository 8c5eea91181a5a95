"""Chaos: the orders service, the Kiwoom adapter and the Kiwoom sandbox with faults injected.

500 orders decided; 10 % of requests answered 5xx, 5 % throttled (`return_code 5 [1700]`), 2 %
booked with the reply lost. Exactly the intended 500 orders must end up at the sandbox, none
twice, every intent resolved.
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
from tests.adapters.kiwoom.conftest import ORDER_PATH, HarnessFactory
from tests.support.databases import cipher_for_tests, fresh_database

DECISIONS = 500
SYMBOLS = ("005930", "069500", "005380", "000660")
LIVE = {OrderState.ACCEPTED, OrderState.PARTIALLY_FILLED, OrderState.FILLED}


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    async with fresh_database("sqlite", tmp_path) as database:
        yield database


async def test_chaos_ends_with_exactly_the_intended_orders(
    make_harness: HarnessFactory, seed: dict[str, Any], sqlite_db: Database
) -> None:
    data = copy.deepcopy(seed)
    data["accounts"]["5012345611"]["cash"] = 5_000_000_000
    h = await make_harness("real", seed_data=data)
    await h.faults(
        error_5xx={"rate": 0.10},
        rate_limit={"rate": 0.05},
        lost_reply={"rate": 0.02},
        seed=20261203,
    )
    service = OrderService(
        DbOrderJournal(sqlite_db, cipher_for_tests()), h.kiwoom.executor, h.time, sleep=h.time.sleep
    )
    await service.recover()
    outcome: dict[int, OrderState] = {}
    attempts: Counter[int] = Counter()
    quantities = {i: 1 + i % 3 for i in range(DECISIONS)}

    async def decide(i: int) -> None:
        attempts[i] += 1
        record = await service.place(
            OrderRequest(
                idempotency_key=f"chaos-{i}-{attempts[i]}",
                account=h.account,
                symbol=SYMBOLS[i % len(SYMBOLS)],
                side=Side.BUY,
                quantity=quantities[i],
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
        states = {r.intent.idempotency_key: r.state for r in await service.list_orders(limit=5000)}
        for i in open_decisions:
            outcome[i] = states[f"chaos-{i}-{attempts[i]}"]
            if outcome[i] in (OrderState.NOT_FOUND, OrderState.REJECTED):
                await decide(i)

    records = await service.list_orders(limit=5_000)
    booked = [o for o in h.state.orders if o.kind == "new"]
    owners = Counter(r.broker_order_id for r in records if r.broker_order_id)
    injected = (await h.control("/_sandbox/faults"))["injected"]

    assert all(state in LIVE for state in outcome.values()), Counter(outcome.values())
    assert len(booked) == DECISIONS
    assert sorted(o.qty for o in booked) == sorted(quantities.values())
    assert len({o.ord_no for o in booked}) == DECISIONS
    assert len(owners) == DECISIONS
    assert max(owners.values()) == 1
    assert not [r for r in records if r.state.unresolved]
    assert h.spy.api_ids(ORDER_PATH).count("kt10000") > DECISIONS  # refusals were resent
    assert injected["lost_reply"] > 0
    assert injected["error_5xx"] > 0
    assert injected["rate_limit"] > 0
