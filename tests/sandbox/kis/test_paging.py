"""Continuation paging of inquire-balance and inquire-daily-ccld (spec §4.3, §4.4, §4.9)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.sandbox.kis.conftest import AppFactory, connect
from tests.sandbox.kis.helpers import Kis


@pytest.fixture
def many_holdings(seed_data: dict[str, Any]) -> dict[str, Any]:
    """The default seed plus 120 extra symbols held by both demo accounts."""
    extra = [
        {"pdno": f"{900000 + i:06d}", "name": f"테스트종목{i:03d}", "base_price": 10000}
        for i in range(120)
    ]
    seed_data["symbols"] += extra
    for env in ("real", "paper"):
        seed_data["envs"][env]["accounts"][0]["holdings"] = [
            {"pdno": s["pdno"], "qty": 10, "avg_price": "10000"} for s in extra
        ]
    return seed_data


@pytest.mark.parametrize(
    ("env", "sizes", "letters"),
    [
        ("real", [50, 50, 20], ["F", "M", "E"]),
        ("paper", [20] * 6, ["F", "M", "M", "M", "M", "E"]),
    ],
)
async def test_balance_pages_120_holdings(
    make_app: AppFactory,
    many_holdings: dict[str, Any],
    env: str,
    sizes: list[int],
    letters: list[str],
) -> None:
    """120 holdings come in pages of 50 (real) or 20 (paper), tr_cont F/M… then E."""
    async for kis in connect(make_app(env, many_holdings)):
        await kis.login()
        rows, seen = await kis.all_pages("balance")
        page_one = (await kis.balance()).json()

    assert seen == letters
    assert len(rows) == sum(sizes) == 120
    assert len({row["pdno"] for row in rows}) == 120
    assert len(page_one["output1"]) == sizes[0]
    assert len(page_one["ctx_area_fk100"]) == len(page_one["ctx_area_nk100"]) == 100
    assert page_one["ctx_area_nk100"].strip()


async def test_single_page_is_d_with_blank_next_key(real: Kis) -> None:
    """A balance that fits one page answers tr_cont D and a blank 100-space NK key."""
    response = await real.balance()

    body = response.json()
    assert response.headers["tr_cont"] == "D"
    assert body["ctx_area_nk100"] == " " * 100
    assert body["ctx_area_fk100"].startswith("50012345^01^")
    assert isinstance(body["output2"], list)
    assert len(body["output2"]) == 1


async def test_stripped_and_lowercase_context_keys_work(
    make_app: AppFactory, many_holdings: dict[str, Any]
) -> None:
    """Clients that strip the keys or send ctx_area_*100 in lowercase still get page two."""
    async for kis in connect(make_app("real", many_holdings)):
        await kis.login()
        first = (await kis.balance()).json()
        params = {
            "CANO": kis.cano,
            "ACNT_PRDT_CD": kis.prdt,
            "AFHR_FLPR_YN": "N",
            "OFL_YN": "",
            "INQR_DVSN": "01",
            "UNPR_DVSN": "01",
            "FUND_STTL_ICLD_YN": "N",
            "FNCG_AMT_AUTO_RDPT_YN": "N",
            "PRCS_DVSN": "00",
            "ctx_area_fk100": first["ctx_area_fk100"].strip(),
            "ctx_area_nk100": first["ctx_area_nk100"].strip(),
        }
        second = await kis.get(
            "/uapi/domestic-stock/v1/trading/inquire-balance", "TTTC8434R", params, tr_cont="N"
        )

    assert second.headers["tr_cont"] == "M"
    assert second.json()["output1"][0]["pdno"] == first["output1"][-1]["pdno"][:-2] + "50"


async def test_next_page_without_tr_cont_n_starts_over(
    make_app: AppFactory, many_holdings: dict[str, Any]
) -> None:
    """Context keys without request header tr_cont N give page one again."""
    async for kis in connect(make_app("real", many_holdings)):
        await kis.login()
        first = (await kis.balance()).json()
        again = await kis.balance(fk=first["ctx_area_fk100"], nk=first["ctx_area_nk100"])

    assert again.headers["tr_cont"] == "F"
    assert again.json()["output1"] == first["output1"]


async def test_holdings_changing_between_pages_is_sydb0050(
    make_app: AppFactory, many_holdings: dict[str, Any]
) -> None:
    """A fill between page one and page two answers rt_cd 7 SYDB0050; page one works again."""
    async for kis in connect(make_app("real", many_holdings)):
        await kis.login()
        first = (await kis.balance()).json()
        await kis.order("sell", "900007", 1)
        second = await kis.balance("N", first["ctx_area_fk100"], first["ctx_area_nk100"])
        restart = await kis.balance()

    assert second.status_code == 200
    assert second.json() == {
        "rt_cd": "7",
        "msg_cd": "SYDB0050",
        "msg1": "조회이후에 자료가 변경되었습니다.(다시 조회하세요)",
    }
    assert restart.json()["rt_cd"] == "0"


async def resting_orders(kis: Kis, count: int, pdno: str, price: int) -> list[str]:
    replies = [(await kis.order("buy", pdno, 1, price, "00")).json() for _ in range(count)]
    assert all(r["rt_cd"] == "0" for r in replies), replies[-1]
    return [r["output"]["ODNO"] for r in replies]


@pytest.mark.parametrize(
    ("env", "count", "pdno", "price", "sizes"),
    [("real", 105, "005930", 60000, [100, 5]), ("paper", 40, "000660", 150000, [15, 15, 10])],
)
async def test_daily_ccld_pages_100_real_15_paper(
    make_app: AppFactory, env: str, count: int, pdno: str, price: int, sizes: list[int]
) -> None:
    """daily-ccld pages 100 rows (real) or 15 (paper); output2 totals every page's rows."""
    async for kis in connect(make_app(env)):
        await kis.login()
        kis.pace = max(kis.pace, 0.1)
        odnos = await resting_orders(kis, count, pdno, price)
        rows, letters = await kis.all_pages("daily_ccld")
        page_one = (await kis.daily_ccld()).json()

    assert [r["odno"] for r in rows] == odnos  # INQR_DVSN 01: oldest first
    assert len(letters) == len(sizes)
    assert letters[0] == "F"
    assert letters[-1] == "E"
    assert len(page_one["output1"]) == sizes[0]
    assert page_one["output2"]["tot_ord_qty"] == str(count)


async def test_daily_ccld_newest_first_and_filters(real: Kis) -> None:
    """INQR_DVSN 00 lists newest first; CCLD_DVSN 02 lists only unfilled orders."""
    filled = (await real.order("buy", "005930", 1)).json()["output"]["ODNO"]
    resting = (await real.order("buy", "005930", 1, 60000, "00")).json()["output"]["ODNO"]

    newest = (await real.daily_ccld(INQR_DVSN="00")).json()["output1"]
    unfilled = (await real.daily_ccld(CCLD_DVSN="02")).json()["output1"]

    assert [r["odno"] for r in newest] == [resting, filled]
    assert [r["odno"] for r in unfilled] == [resting]


async def test_new_order_between_daily_ccld_pages_is_sydb0050(paper: Kis) -> None:
    """An order placed while paging daily-ccld invalidates the continuation key."""
    await resting_orders(paper, 16, "000660", 150000)
    first = await paper.daily_ccld()
    await paper.order("buy", "000660", 1, 150000, "00")

    keys = first.json()
    second = await paper.daily_ccld(
        tr_cont="N", fk=keys["ctx_area_fk100"], nk=keys["ctx_area_nk100"]
    )

    assert first.headers["tr_cont"] == "F"
    assert (second.json()["rt_cd"], second.json()["msg_cd"]) == ("7", "SYDB0050")


async def test_balance_inquiry_division_02_is_refused(real: Kis) -> None:
    """INQR_DVSN=02 on inquire-balance fails with OPSQ2001 (python-kis#81)."""
    params = {
        **real.account(),
        "AFHR_FLPR_YN": "N",
        "OFL_YN": "",
        "INQR_DVSN": "02",
        "UNPR_DVSN": "01",
        "FUND_STTL_ICLD_YN": "N",
        "FNCG_AMT_AUTO_RDPT_YN": "N",
        "PRCS_DVSN": "00",
        "CTX_AREA_FK100": "",
        "CTX_AREA_NK100": "",
    }

    body = (
        await real.get("/uapi/domestic-stock/v1/trading/inquire-balance", "TTTC8434R", params)
    ).json()

    assert (body["rt_cd"], body["msg_cd"], body["msg1"]) == (
        "2",
        "OPSQ2001",
        "ERROR : INPUT INVALID_CHECK_INQR_DVSN",
    )


async def test_open_orders_list_pages_and_shows_cancellable_quantity(real: Kis) -> None:
    """inquire-psbl-rvsecncl lists working orders with psbl_qty; finished ones drop out."""
    kept = (await real.order("buy", "005930", 3, 60000, "00")).json()
    gone = (await real.order("buy", "005930", 2, 60000, "00")).json()
    await real.amend(gone)

    response = await real.get(
        "/uapi/domestic-stock/v1/trading/inquire-psbl-rvsecncl",
        "TTTC0084R",
        {
            **real.account(),
            "INQR_DVSN_1": "0",
            "INQR_DVSN_2": "0",
            "CTX_AREA_FK100": "",
            "CTX_AREA_NK100": "",
        },
    )

    rows = response.json()["output"]
    assert [(r["odno"], r["psbl_qty"]) for r in rows] == [(kept["output"]["ODNO"], "3")]
    assert response.headers["tr_cont"] == "D"
