"""order-cash and order-rvsecncl: TR ids, checks, rejections and fills (spec §4.1, §4.2, §6, §7)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from adapters.sandbox.kis.clock import KST
from adapters.sandbox.kis.prices import STEP_SECONDS
from adapters.sandbox.kis.ticks import tick_up
from tests.sandbox.kis.conftest import SESSION_TIME, AppFactory, connect
from tests.sandbox.kis.helpers import Kis


def rows_by_odno(body: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {row["odno"]: row for row in body["output1"]}


@pytest.mark.parametrize(
    ("tr_id", "side", "held_after"),
    [
        ("TTTC0012U", "02", 11),
        ("TTTC0802U", "02", 11),
        ("TTTC0011U", "01", 9),
        ("TTTC0801U", "01", 9),
    ],
)
async def test_new_and_old_tr_ids_pick_buy_or_sell(
    real: Kis, tr_id: str, side: str, held_after: int
) -> None:
    """New and old order-cash TR ids are accepted; the TR id alone decides buy or sell."""
    response = await real.order(tr_id=tr_id)

    body = response.json()
    assert (body["rt_cd"], body["msg_cd"], body["msg1"]) == (
        "0",
        "APBK0013",
        "주문 전송 완료 되었습니다.",
    )
    assert set(body["output"]) == {"KRX_FWDG_ORD_ORGNO", "ODNO", "ORD_TMD"}
    assert body["output"]["ODNO"] == "0000482713"
    assert body["output"]["ORD_TMD"] == "100000"
    assert real.broker.book.orders[0].side == side
    assert real.broker.accounts["50012345-01"].positions["005930"].qty == held_after


async def test_paper_orders_answer_paper_codes(paper: Kis) -> None:
    """Paper says 40600000 for a buy and 40590000 for a sell, with 모의투자 messages."""
    buy = (await paper.order("buy", "000660")).json()
    sell = (await paper.order("sell", "000660")).json()

    assert (buy["msg_cd"], buy["msg1"]) == ("40600000", "모의투자 매수주문이 완료 되었습니다.")
    assert (sell["msg_cd"], sell["msg1"]) == ("40590000", "모의투자 매도주문이 완료 되었습니다.")
    assert buy["output"]["KRX_FWDG_ORD_ORGNO"] == "00950"


@pytest.mark.parametrize(
    ("pdno", "price", "accepted"),
    [
        ("005930", 71050, False),
        ("005930", 71100, True),
        ("069500", 34845, True),
        ("069500", 34843, False),
    ],
)
async def test_price_off_the_tick_grid_is_apbk0506(
    real: Kis, pdno: str, price: int, accepted: bool
) -> None:
    """Limit prices must sit on the KRX tick grid (100 won at 71,000; 5 won for the ETF)."""
    response = await real.order("buy", pdno, 1, price, "00")

    body = response.json()
    assert response.status_code == 200
    assert (body["rt_cd"] == "0") is accepted
    if not accepted:
        assert body["msg_cd"] == "APBK0506"


async def test_limit_price_beyond_the_daily_limit_is_refused(real: Kis) -> None:
    """A limit above the upper limit (stck_mxpr) is refused as an invalid ORD_UNPR."""
    upper = int((await real.price()).json()["output"]["stck_mxpr"])

    response = await real.order("buy", "005930", 1, upper + 100, "00")

    assert response.json()["msg1"] == "ERROR : INPUT INVALID_CHECK_ORD_UNPR"


@pytest.mark.parametrize(
    "at",
    [
        datetime(2026, 3, 12, 15, 30, tzinfo=KST),
        datetime(2026, 3, 12, 8, 29, tzinfo=KST),
        datetime(2026, 3, 14, 10, 0, tzinfo=KST),  # Saturday
        datetime(2026, 3, 2, 10, 0, tzinfo=KST),  # XKRX holiday
    ],
)
async def test_orders_outside_session_hours_are_apbk0918(real: Kis, at: datetime) -> None:
    """Outside 08:30–15:30 KST on a KRX business day real orders get APBK0918."""
    real.broker.clock.set(at)
    await real.login()

    body = (await real.order()).json()

    assert (body["rt_cd"], body["msg_cd"], body["msg1"]) == (
        "1",
        "APBK0918",
        "장운영시간이 아닙니다.(주문불가)",
    )
    assert real.broker.book.orders == []


async def test_paper_hours_answer_before_open_and_after_close(paper: Kis) -> None:
    """Paper answers 40570000 before the open and 40580000 after the close."""
    paper.broker.clock.set(datetime(2026, 3, 12, 8, 45, tzinfo=KST))
    before = (await paper.order("buy", "000660")).json()
    paper.broker.clock.set(datetime(2026, 3, 12, 15, 45, tzinfo=KST))
    after = (await paper.order("buy", "000660")).json()

    assert (before["msg_cd"], before["msg1"]) == ("40570000", "모의투자 장시작전 입니다.")
    assert (after["msg_cd"], after["msg1"]) == ("40580000", "모의투자 장종료 입니다.")


async def test_pre_open_order_is_taken_and_fills_at_the_open(real: Kis) -> None:
    """Real takes orders from 08:30; a market order placed then fills at 09:00."""
    real.broker.clock.set(datetime(2026, 3, 12, 8, 45, tzinfo=KST))
    await real.order()
    resting = real.broker.book.orders[0].filled_qty
    real.broker.clock.set(datetime(2026, 3, 12, 9, 0, 5, tzinfo=KST))

    await real.balance()

    opening = real.broker.prices.price("005930", datetime(2026, 3, 12, 9, 0, tzinfo=KST))
    assert resting == 0
    assert real.broker.accounts["50012345-01"].fills[0].price == opening


async def test_forced_session_overrides_the_clock(real: Kis) -> None:
    """session=open takes orders at 22:00; session=closed refuses them at 10:00."""
    real.broker.clock.set(datetime(2026, 3, 12, 22, 0, tzinfo=KST))
    real.broker.clock.set_session("open")
    night = (await real.order()).json()
    real.broker.clock.set(SESSION_TIME + timedelta(hours=1))
    real.broker.clock.set_session("closed")
    closed = (await real.order()).json()

    assert night["rt_cd"] == "0"
    assert real.broker.book.orders[0].filled_qty == 1
    assert closed["msg_cd"] == "APBK0918"


async def test_market_buy_reserves_cash_at_the_upper_limit(real: Kis) -> None:
    """Market buys are costed at 상한가: 106 shares fit in ₩10M at 93,900, 107 are APBK0952."""
    quote = (await real.price()).json()["output"]

    too_many = (await real.order("buy", "005930", 107)).json()
    fitting = (await real.order("buy", "005930", 106)).json()

    assert quote["stck_mxpr"] == "93900"
    assert 107 * int(quote["stck_prpr"]) < 10_000_000
    assert (too_many["rt_cd"], too_many["msg_cd"]) == ("1", "APBK0952")
    assert too_many["msg1"] == "주문가능금액을 초과 했습니다"
    assert fitting["rt_cd"] == "0"


async def test_selling_more_than_sellable_is_refused(real: Kis) -> None:
    """Selling 11 of 10 held shares is APBK0400; an open sell order uses up sellable shares."""
    too_many = (await real.order("sell", "005930", 11)).json()
    await real.order("sell", "005930", 10, 90000, "00")
    none_left = (await real.order("sell", "005930", 1)).json()

    assert too_many["msg_cd"] == "APBK0400"
    assert none_left["msg_cd"] == "APBK0400"


async def test_paper_sell_without_holding_is_40240000(paper: Kis) -> None:
    """Paper refuses to sell a stock it does not hold with 40240000 잔고내역이 없습니다."""
    body = (await paper.order("sell", "005930")).json()

    assert (body["msg_cd"], body["msg1"]) == ("40240000", "모의투자 잔고내역이 없습니다.")


async def test_unknown_symbol_is_apbk0656(real: Kis) -> None:
    """An order for a code the exchange does not list is APBK0656."""
    body = (await real.order("buy", "999999")).json()

    assert body["msg_cd"] == "APBK0656"


async def test_paper_refuses_divisions_it_does_not_support(paper: Kis) -> None:
    """Paper takes ORD_DVSN 00–04 only; IOC (11) is 90000000, prefixed 모의투자."""
    body = (await paper.order("buy", "000660", 1, 180000, "11")).json()

    assert (body["msg_cd"], body["msg1"]) == (
        "90000000",
        "모의투자에서는 해당업무가 제공되지 않습니다.",
    )


async def test_numbers_in_order_bodies_must_be_strings(real: Kis) -> None:
    """ORD_QTY sent as a JSON number fails the input check with rt_cd 2."""
    body = {**real.account(), "PDNO": "005930", "ORD_DVSN": "01", "ORD_QTY": 1, "ORD_UNPR": "0"}

    reply = (
        await real.post("/uapi/domestic-stock/v1/trading/order-cash", "TTTC0012U", body)
    ).json()

    assert (reply["rt_cd"], reply["msg_cd"], reply["msg1"]) == (
        "2",
        "OPSQ2001",
        "ERROR : INPUT INVALID_CHECK_ORD_QTY",
    )


async def test_market_order_fills_at_the_current_price(real: Kis) -> None:
    """A market buy fills in full at the price inquire-price shows."""
    price = (await real.price()).json()["output"]["stck_prpr"]

    reply = (await real.order("buy", "005930", 5)).json()
    row = rows_by_odno((await real.daily_ccld()).json())[reply["output"]["ODNO"]]

    assert (row["tot_ccld_qty"], row["avg_prvs"], row["rmn_qty"]) == ("5", price, "0")
    assert row["tot_ccld_amt"] == str(5 * int(price))


def gap_below(kis: Kis, pdno: str, start: datetime) -> tuple[datetime, int]:
    """The first step whose price falls over a tick below every price before it, and a limit
    one tick above that price: an order resting at the limit is first crossed there."""
    prices = kis.broker.prices
    lowest = prices.price(pdno, start)
    at = start
    while True:
        at += timedelta(seconds=STEP_SECONDS)
        assert at < start + timedelta(hours=5), "no gap in the path"
        price = prices.price(pdno, at)
        limit = tick_up(price, kis.broker.prices.symbols[pdno].kind)
        if limit < lowest:
            return at, limit
        lowest = min(lowest, price)


async def test_limit_buy_fills_at_its_limit_when_the_path_crosses_it(real: Kis) -> None:
    """A resting limit buy fills only once the path comes down through it, at its own limit."""
    crossing, limit = gap_below(real, "069500", real.broker.now())

    reply = (await real.order("buy", "069500", 3, limit, "00")).json()
    real.broker.clock.set(crossing - timedelta(seconds=1))
    before = rows_by_odno((await real.daily_ccld()).json())[reply["output"]["ODNO"]]
    real.broker.clock.set(crossing)
    after = rows_by_odno((await real.daily_ccld()).json())[reply["output"]["ODNO"]]

    assert real.broker.prices.price("069500", crossing) < limit
    assert (before["tot_ccld_qty"], before["rmn_qty"]) == ("0", "3")
    assert (after["tot_ccld_qty"], after["avg_prvs"], after["rmn_qty"]) == ("3", str(limit), "0")


async def test_marketable_limit_fills_at_the_better_market_price(real: Kis) -> None:
    """A limit buy above the market fills at once, at the market price, not at its limit."""
    price = int((await real.price()).json()["output"]["stck_prpr"])

    reply = (await real.order("buy", "005930", 1, price + 1000, "00")).json()

    row = rows_by_odno((await real.daily_ccld()).json())[reply["output"]["ODNO"]]
    assert (row["tot_ccld_qty"], row["avg_prvs"]) == ("1", str(price))


async def test_large_order_fills_partially_over_several_steps(
    make_app: AppFactory, seed_data: dict[str, Any]
) -> None:
    """With thin liquidity a 100-share market buy fills in parts, step after step."""
    seed_data["symbols"][0]["liquidity"] = 10
    async for real in connect(make_app("real", seed_data)):
        await real.login()
        odno = (await real.order("buy", "005930", 100)).json()["output"]["ODNO"]
        first = rows_by_odno((await real.daily_ccld()).json())[odno]
        real.broker.clock.advance(30 * STEP_SECONDS)
        later = rows_by_odno((await real.daily_ccld()).json())[odno]

    assert 0 < int(first["tot_ccld_qty"]) < 100
    assert int(first["tot_ccld_qty"]) < int(later["tot_ccld_qty"])
    assert int(later["tot_ccld_qty"]) + int(later["rmn_qty"]) == 100


async def test_cancel_books_a_cancel_record_and_frees_the_cash(real: Kis) -> None:
    """Cancelling a resting order adds a cncl_yn=Y row pointing at it and restores buying power."""
    free_before = (await real.psbl_order()).json()["output"]["ord_psbl_cash"]
    reply = (await real.order("buy", "005930", 10, 60000, "00")).json()
    held = (await real.psbl_order()).json()["output"]["ord_psbl_cash"]

    cancel = (await real.amend(reply, action="02")).json()
    rows = rows_by_odno((await real.daily_ccld()).json())
    free_after = (await real.psbl_order()).json()["output"]["ord_psbl_cash"]

    original, record = rows[reply["output"]["ODNO"]], rows[cancel["output"]["ODNO"]]
    assert cancel["msg_cd"] == "APBK0013"
    assert cancel["output"]["ODNO"] != reply["output"]["ODNO"]
    assert (original["rmn_qty"], original["cncl_cfrm_qty"]) == ("0", "10")
    assert (record["orgn_odno"], record["cncl_yn"], record["ord_qty"]) == (
        reply["output"]["ODNO"],
        "Y",
        "10",
    )
    assert int(held) < int(free_before) == int(free_after)


async def test_partial_cancel_leaves_the_rest_working(real: Kis) -> None:
    """QTY_ALL_ORD_YN=N cancels only ORD_QTY shares; the rest stays open."""
    reply = (await real.order("buy", "005930", 10, 60000, "00")).json()

    await real.amend(reply, action="02", qty=4, all_qty="N")

    original = rows_by_odno((await real.daily_ccld()).json())[reply["output"]["ODNO"]]
    assert (original["rmn_qty"], original["cncl_cfrm_qty"]) == ("6", "4")


async def test_modify_moves_the_rest_to_a_new_order_at_the_new_price(real: Kis) -> None:
    """A price modify issues a new ODNO carrying the remainder; a marketable price fills it."""
    reply = (await real.order("buy", "005930", 2, 60000, "00")).json()
    upper = int((await real.price()).json()["output"]["stck_mxpr"])

    modified = (await real.amend(reply, action="01", price=upper)).json()
    rows = rows_by_odno((await real.daily_ccld()).json())

    new = rows[modified["output"]["ODNO"]]
    assert modified["rt_cd"] == "0"
    assert rows[reply["output"]["ODNO"]]["rmn_qty"] == "0"
    assert (new["orgn_odno"], new["ord_unpr"], new["tot_ccld_qty"]) == (
        reply["output"]["ODNO"],
        str(upper),
        "2",
    )


async def test_amending_a_finished_order_is_40330000(paper: Kis) -> None:
    """Cancelling an order with nothing left answers 40330000 정정/취소할 수량이 없습니다."""
    reply = (await paper.order("buy", "000660", 1, 150000, "00")).json()
    first = (await paper.amend(reply)).json()

    second = (await paper.amend(reply)).json()

    assert (first["msg_cd"], first["msg1"]) == ("40630000", "모의투자 취소주문이 완료 되었습니다.")
    assert (second["msg_cd"], second["msg1"]) == (
        "40330000",
        "모의투자 정정/취소할 수량이 없습니다.",
    )


async def test_ioc_remainder_is_cancelled_at_once(real: Kis) -> None:
    """An IOC limit that cannot trade is cancelled immediately, never resting."""
    reply = (await real.order("buy", "005930", 5, 60000, "11")).json()

    row = rows_by_odno((await real.daily_ccld()).json())[reply["output"]["ODNO"]]

    assert (row["tot_ccld_qty"], row["cncl_cfrm_qty"], row["rmn_qty"]) == ("0", "5", "0")
    assert row["ccld_cndt_name"] == "IOC"


async def test_day_order_expires_at_the_close(real: Kis) -> None:
    """An unfilled day order stops working at 15:30 and can no longer be cancelled."""
    reply = (await real.order("buy", "005930", 1, 60000, "00")).json()
    real.broker.clock.set(datetime(2026, 3, 13, 9, 0, tzinfo=KST))

    cancel = (await real.amend(reply)).json()

    assert real.broker.book.orders[0].expired
    assert cancel["msg_cd"] == "40330000"


@pytest.mark.parametrize(
    ("at", "dvsn", "reference"),
    [
        (datetime(2026, 3, 12, 8, 35, tzinfo=KST), "05", "prev_close"),
        (datetime(2026, 3, 12, 15, 45, tzinfo=KST), "06", "close"),
    ],
)
async def test_off_hours_orders_trade_at_the_closing_price(
    real: Kis, at: datetime, dvsn: str, reference: str
) -> None:
    """장전 시간외 (05) trades at the previous close, 장후 시간외 (06) at today's close."""
    real.broker.clock.set(at)
    expected = getattr(real.broker.prices, reference)("005930", at.date())

    reply = (await real.order("buy", "005930", 2, 0, dvsn)).json()

    row = rows_by_odno((await real.daily_ccld()).json())[reply["output"]["ODNO"]]
    assert (row["tot_ccld_qty"], row["avg_prvs"]) == ("2", str(expected))


async def test_stop_limit_waits_for_its_trigger(real: Kis) -> None:
    """A stop-limit buy (22) does nothing until the price reaches CNDT_PRIC."""
    prices = real.broker.prices
    now = real.broker.now()
    later = [now + timedelta(seconds=STEP_SECONDS * k) for k in range(1, 1800)]
    trigger = max(prices.price("069500", t) for t in later)
    fired = next(t for t in later if prices.price("069500", t) >= trigger)
    upper = int((await real.price("069500")).json()["output"]["stck_mxpr"])

    reply = (
        await real.order("buy", "069500", 1, upper - upper % 5, "22", CNDT_PRIC=str(trigger))
    ).json()
    real.broker.clock.set(fired - timedelta(seconds=1))
    waiting = rows_by_odno((await real.daily_ccld()).json())[reply["output"]["ODNO"]]
    real.broker.clock.set(fired)
    done = rows_by_odno((await real.daily_ccld()).json())[reply["output"]["ODNO"]]

    assert trigger > prices.price("069500", now)
    assert waiting["tot_ccld_qty"] == "0"
    assert (done["tot_ccld_qty"], done["avg_prvs"]) == ("1", str(trigger))


async def test_cancel_with_a_blank_branch_is_accepted(real: Kis, paper: Kis) -> None:
    """Spec §4.2: a blank KRX_FWDG_ORD_ORGNO is accepted on cancel and modify (KIS's own
    backtester sends ""); a wrong non-blank branch is still refused."""
    results = []
    for kis in (real, paper):
        placed = (await kis.order("buy", "005930", 2, 60000, "00")).json()
        wrong = {"output": {**placed["output"], "KRX_FWDG_ORD_ORGNO": "99999"}}
        refused = (await kis.amend(wrong)).json()
        modify_blank = {"output": {**placed["output"], "KRX_FWDG_ORD_ORGNO": ""}}
        modified = (
            await kis.amend(modify_blank, action="01", qty=1, price=60100, all_qty="N")
        ).json()
        cancelled = (await kis.amend(modify_blank)).json()
        results.append((refused["msg_cd"], modified["rt_cd"], cancelled["rt_cd"]))
        rows = (await kis.daily_ccld()).json()["output1"]
        original = next(r for r in rows if r["odno"] == placed["output"]["ODNO"])
        assert (original["cncl_cfrm_qty"], original["rmn_qty"]) == ("1", "0")

    assert results == [("OPSQ2001", "0", "0"), ("OPSQ2001", "0", "0")]
