"""Per-app-key request limits: 18/s real, 1/s paper, configurable (spec §7.1)."""

from __future__ import annotations

from typing import Any

from tests.sandbox.kis.conftest import AppFactory, connect
from tests.sandbox.kis.helpers import Kis


async def test_real_admits_18_per_second_then_egw00201(real: Kis) -> None:
    """The 19th call inside one second is HTTP 500 EGW00201; a second later it passes."""
    replies = [await real.price() for _ in range(19)]
    real.broker.clock.advance(1)
    after = await real.price()

    assert [r.json()["rt_cd"] for r in replies[:18]] == ["0"] * 18
    assert replies[18].status_code == 500
    assert replies[18].json() == {
        "rt_cd": "1",
        "msg_cd": "EGW00201",
        "msg1": "초당 거래건수를 초과하였습니다.",
    }
    assert after.json()["rt_cd"] == "0"


async def test_paper_admits_one_per_second(paper: Kis) -> None:
    """Paper refuses a second call in the same second and admits it a second later."""
    paper.pace = 0.0
    paper.broker.clock.advance(1)

    first, second = await paper.price(), await paper.price()
    paper.broker.clock.advance(1)
    third = await paper.price()

    assert first.json()["rt_cd"] == "0"
    assert (second.status_code, second.json()["msg_cd"]) == (500, "EGW00201")
    assert third.json()["rt_cd"] == "0"


async def test_window_slides_rather_than_resetting_each_second(real: Kis) -> None:
    """Calls spread over the last second count together: 18 in 0.9 s block the 19th."""
    for _ in range(18):
        await real.price()
        real.broker.clock.advance(0.05)

    blocked = await real.price()

    assert blocked.json()["msg_cd"] == "EGW00201"


async def test_limit_is_per_app_key(make_app: AppFactory, seed_data: dict[str, Any]) -> None:
    """Two app keys on the same host each get their own 18/s."""
    second = dict(
        seed_data["envs"]["real"]["apps"][0], appkey="PSdemoAppKeyReal00000000000000000002"
    )
    seed_data["envs"]["real"]["apps"].append(second)
    async for one in connect(make_app("real", seed_data)):
        await one.login()
        other = Kis(one.http, one.broker)
        other.appkey = second["appkey"]
        await other.login()

        for _ in range(18):
            await one.price()
        blocked, admitted = await one.price(), await other.price()

    assert blocked.json()["msg_cd"] == "EGW00201"
    assert admitted.json()["rt_cd"] == "0"


async def test_rate_limit_comes_from_the_seed(
    make_app: AppFactory, seed_data: dict[str, Any]
) -> None:
    """A seed may set rate_limit_per_second; paper at 3/s admits three calls a second."""
    seed_data["envs"]["paper"]["rate_limit_per_second"] = 3
    async for paper in connect(make_app("paper", seed_data)):
        await paper.login()
        paper.pace = 0.0

        replies = [await paper.price() for _ in range(4)]

    assert [r.json()["msg_cd"] for r in replies] == ["MCA00000"] * 3 + ["EGW00201"]
