"""Fault injection through /_sandbox/faults and the seed (latency, 5xx, EGW00201, expired
tokens, lost replies), including the seeded probabilities a chaos run relies on."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.sandbox.kis.conftest import AppFactory, FakeSleep, connect
from tests.sandbox.kis.helpers import Kis


async def set_faults(kis: Kis, plan: dict[str, Any]) -> httpx.Response:
    response = await kis.http.post("/_sandbox/faults", json=plan)
    assert response.status_code == 200, response.text
    return response


async def test_latency_goes_through_the_injected_sleep(real: Kis, sleep: FakeSleep) -> None:
    """A latency rule delays each matching request by its seconds, via the fake sleep."""
    await set_faults(real, {"latency": {"seconds": 2.5, "count": 2}})

    replies = [await real.price() for _ in range(3)]

    assert sleep.calls == [2.5, 2.5]
    assert all(r.json()["rt_cd"] == "0" for r in replies)


async def test_5xx_burst_hits_the_next_requests_and_books_nothing(real: Kis) -> None:
    """error_5xx with count 2 answers two 503s (orders not booked), then serves normally."""
    await set_faults(real, {"error_5xx": {"count": 2, "status": 503}})

    first, second, third = [await real.order() for _ in range(3)]

    assert [first.status_code, second.status_code] == [503, 503]
    assert first.headers["content-type"].startswith("text/html")
    assert third.json()["rt_cd"] == "0"
    assert len(real.broker.book.orders) == 1


async def test_5xx_can_target_one_path(real: Kis) -> None:
    """A path-scoped 500 spares other endpoints and answers the KIS envelope EGW00001."""
    await set_faults(
        real, {"error_5xx": {"count": 1, "path": "/uapi/domestic-stock/v1/trading/order-cash"}}
    )

    quote = await real.price()
    order = await real.order()

    assert quote.json()["rt_cd"] == "0"
    assert (order.status_code, order.json()["msg_cd"]) == (500, "EGW00001")
    assert real.broker.book.orders == []


async def test_egw00201_burst_refuses_without_booking(real: Kis) -> None:
    """rate_limit with count 1 answers HTTP 500 EGW00201 once; the order is not booked."""
    await set_faults(real, {"rate_limit": {"count": 1}})

    refused, accepted = await real.order(), await real.order()

    assert (refused.status_code, refused.json()["msg_cd"]) == (500, "EGW00201")
    assert accepted.json()["rt_cd"] == "0"
    assert len(real.broker.book.orders) == 1


async def test_expire_tokens_now(real: Kis) -> None:
    """expire_tokens makes the live token EGW00123; a re-issued token works again."""
    await set_faults(real, {"expire_tokens": True})
    expired = await real.price()
    real.broker.clock.advance(60)
    await real.login()

    renewed = await real.price()

    assert (expired.status_code, expired.json()["msg_cd"]) == (500, "EGW00123")
    assert renewed.json()["rt_cd"] == "0"


async def test_lost_reply_books_the_order_and_drops_the_connection(real: Kis) -> None:
    """lost_reply books the order, then the reply dies: in-process the reset propagates."""
    await set_faults(real, {"lost_reply": {"count": 1}})

    with pytest.raises(ConnectionResetError, match="connection dropped after booking"):
        await real.order("buy", "005930", 2)
    rows = (await real.daily_ccld()).json()["output1"]

    assert [(r["odno"], r["ord_qty"]) for r in rows] == [("0000482713", "2")]


async def test_lost_reply_applies_to_cancels_too(real: Kis) -> None:
    """A cancel whose reply is lost still cancels the order."""
    reply = (await real.order("buy", "005930", 1, 60000, "00")).json()
    await set_faults(real, {"lost_reply": {"count": 1}})

    with pytest.raises(ConnectionResetError):
        await real.amend(reply)

    assert real.broker.book.orders[0].open_qty == 0


async def test_faults_listed_and_cleared(real: Kis) -> None:
    """GET shows rules and injected counts; DELETE clears both."""
    await set_faults(real, {"rate_limit": {"count": 1}, "latency": {"seconds": 1}})
    await real.price()

    shown = (await real.http.get("/_sandbox/faults")).json()
    cleared = (await real.http.delete("/_sandbox/faults")).json()

    assert shown["rate_limit"] == {"count": 0}
    assert shown["latency"] == {"seconds": 1.0}
    assert shown["injected"]["rate_limit"] == 1
    assert cleared["rate_limit"] is None
    assert cleared["latency"] is None
    assert set(cleared["injected"].values()) == {0}


async def test_bad_fault_plan_is_a_400(real: Kis) -> None:
    """An unknown key or an unbounded error rule is refused with 400."""
    unknown = await real.http.post("/_sandbox/faults", json={"explode": True})
    unbounded = await real.http.post("/_sandbox/faults", json={"error_5xx": {"status": 500}})

    assert unknown.status_code == unbounded.status_code == 400


async def test_faults_can_come_from_the_seed(
    make_app: AppFactory, seed_data: dict[str, Any]
) -> None:
    """A seed's faults section is active from the start."""
    seed_data["faults"] = {"rate_limit": {"count": 1}}
    async for kis in connect(make_app("real", seed_data)):
        await kis.login()
        first = await kis.price()

    assert first.json()["msg_cd"] == "EGW00201"


CHAOS = {
    "seed": 2,
    "error_5xx": {"rate": 0.10},
    "rate_limit": {"rate": 0.05},
    "lost_reply": {"rate": 0.05},
}


async def chaos_run(make_app: AppFactory) -> tuple[list[str], int, dict[str, int]]:
    outcomes: list[str] = []
    async for kis in connect(make_app("real")):
        await kis.login()
        kis.pace = 0.1
        await set_faults(kis, CHAOS)
        for _ in range(200):
            try:
                response = await kis.order("buy", "069500", 1)
            except ConnectionResetError:
                outcomes.append("lost")
                continue
            outcomes.append(str(response.status_code) + ":" + response.json()["msg_cd"])
        booked = len(kis.broker.book.orders)
        injected = (await kis.http.get("/_sandbox/faults")).json()["injected"]
    return outcomes, booked, injected


async def test_probabilistic_faults_replay_and_only_lost_replies_book(make_app: AppFactory) -> None:
    """200 orders at 10 % 5xx / 5 % EGW00201 / 5 % lost: 5xx and 201 book nothing, lost
    replies book, and the same fault seed replays the same sequence."""
    outcomes, booked, injected = await chaos_run(make_app)
    again, _, _ = await chaos_run(make_app)

    counts = Counter(outcomes)
    assert outcomes == again
    assert booked == counts["200:APBK0013"] + counts["lost"]
    assert (counts["500:EGW00001"], counts["500:EGW00201"], counts["lost"]) == (
        injected["error_5xx"],
        injected["rate_limit"],
        injected["lost_reply"],
    )
    assert 10 <= injected["error_5xx"] <= 30
    assert 4 <= injected["rate_limit"] <= 16
    assert 4 <= injected["lost_reply"] <= 16
    assert sum(counts.values()) == 200


@pytest.fixture
async def mounted(make_app: AppFactory) -> AsyncIterator[Kis]:
    """The real sandbox under `/sandbox/kis` of a parent app, as `serve` mounts it in-process."""
    from starlette.applications import Starlette
    from starlette.routing import Mount

    app = make_app("real")
    parent = Starlette(routes=[Mount("/sandbox/kis", app)])
    transport = httpx.ASGITransport(app=parent)
    async with httpx.AsyncClient(transport=transport, base_url="http://op/sandbox/kis/") as http:
        kis = Kis(http, app.state.broker)
        await kis.login()
        yield kis


async def test_default_scopes_fire_under_the_sandbox_kis_mount(mounted: Kis) -> None:
    """Default scopes (EGW00201 on /uapi/, lost replies on order submissions) are the API's
    own paths, matched relative to the mount: under /sandbox/kis they fire as at the root."""
    await set_faults(mounted, {"rate_limit": {"count": 1}, "lost_reply": {"count": 1}})

    limited = await mounted.price()
    with pytest.raises(ConnectionResetError):
        await mounted.order("buy", "005930", 1)
    shown = (await mounted.http.get("/_sandbox/faults")).json()

    assert (limited.status_code, limited.json()["msg_cd"]) == (500, "EGW00201")
    assert len(mounted.broker.book.orders) == 1  # booked, reply lost
    assert shown["injected"]["rate_limit"] == 1
    assert shown["injected"]["lost_reply"] == 1


async def test_path_scoped_rule_matches_relative_to_the_mount(mounted: Kis) -> None:
    """A rule's `path` names the API path, not the mount prefix, and spares other paths."""
    await set_faults(
        mounted, {"error_5xx": {"count": 1, "path": "/uapi/domestic-stock/v1/trading/order-cash"}}
    )

    quote = await mounted.price()
    order = await mounted.order()

    assert quote.json()["rt_cd"] == "0"
    assert (order.status_code, order.json()["msg_cd"]) == (500, "EGW00001")
