"""Buying power, sellable quantity, old inquiry TR ids and the >3-month order list
(spec §4.4, §4.5, §4.6, §4.7, §4.10)."""

from __future__ import annotations

from datetime import datetime

from adapters.sandbox.kis.clock import KST
from tests.sandbox.kis.helpers import TRADING, Kis


async def test_buying_power_counts_shares_at_the_given_price(real: Kis) -> None:
    """psbl-order: max_buy_qty is the most shares ord_psbl_cash pays for, commission included."""
    output = (await real.psbl_order("005930", 70000)).json()["output"]

    assert output["ord_psbl_cash"] == "10000000"
    assert output["psbl_qty_calc_unpr"] == "70000"
    assert output["max_buy_qty"] == output["nrcvb_buy_qty"] == "142"


async def test_buying_power_for_market_orders_uses_the_upper_limit(real: Kis) -> None:
    """psbl-order with ORD_DVSN 01 and no price costs shares at 상한가."""
    output = (await real.psbl_order("005930", dvsn="01")).json()["output"]

    assert (output["psbl_qty_calc_unpr"], output["max_buy_qty"]) == ("93900", "106")


async def test_sellable_quantity_excludes_shares_in_open_sell_orders(real: Kis) -> None:
    """psbl-sell: ord_psbl_qty drops by what an open sell order already offers."""
    await real.order("sell", "005930", 4, 90000, "00")

    output = (
        await real.get(
            f"{TRADING}/inquire-psbl-sell", "TTTC8408R", {**real.account(), "PDNO": "005930"}
        )
    ).json()

    assert output["msg_cd"] == "KIOK0420"
    assert (output["output"]["cblc_qty"], output["output"]["ord_psbl_qty"]) == ("10", "6")


async def test_sellable_quantity_is_real_only(paper: Kis) -> None:
    """psbl-sell on the paper host is EGW02006."""
    response = await paper.get(
        f"{TRADING}/inquire-psbl-sell", "VTTC8408R", {**paper.account(), "PDNO": "000660"}
    )

    assert (response.status_code, response.json()["msg_cd"]) == (500, "EGW02006")


async def test_old_inquiry_and_amend_tr_ids_still_work(real: Kis) -> None:
    """TTTC8001R (daily-ccld), TTTC0803U (cancel) and TTTC8036R (open orders) are accepted."""
    reply = (await real.order("buy", "005930", 1, 60000, "00")).json()
    query = {
        **real.account(),
        "INQR_STRT_DT": "20260312",
        "INQR_END_DT": "20260312",
        "SLL_BUY_DVSN_CD": "00",
        "INQR_DVSN": "00",
        "CCLD_DVSN": "00",
        "INQR_DVSN_3": "00",
    }
    open_orders = await real.get(
        f"{TRADING}/inquire-psbl-rvsecncl",
        "TTTC8036R",
        {**real.account(), "INQR_DVSN_1": "0", "INQR_DVSN_2": "0"},
    )
    daily = await real.get(f"{TRADING}/inquire-daily-ccld", "TTTC8001R", query)
    cancel = await real.post(
        f"{TRADING}/order-rvsecncl",
        "TTTC0803U",
        {
            **real.account(),
            "KRX_FWDG_ORD_ORGNO": reply["output"]["KRX_FWDG_ORD_ORGNO"],
            "ORGN_ODNO": reply["output"]["ODNO"],
            "ORD_DVSN": "00",
            "RVSE_CNCL_DVSN_CD": "02",
            "ORD_QTY": "0",
            "ORD_UNPR": "0",
            "QTY_ALL_ORD_YN": "Y",
        },
    )

    assert len(open_orders.json()["output"]) == 1
    assert [r["odno"] for r in daily.json()["output1"]] == [reply["output"]["ODNO"]]
    assert cancel.json()["rt_cd"] == "0"


async def test_orders_older_than_three_months_need_the_archive_tr(real: Kis) -> None:
    """After three months an order leaves TTTC0081R's view and shows under CTSC9215R."""
    odno = (await real.order()).json()["output"]["ODNO"]
    real.broker.clock.set(datetime(2026, 7, 1, 10, 0, tzinfo=KST))
    await real.login()
    query = {
        **real.account(),
        "INQR_STRT_DT": "20260301",
        "INQR_END_DT": "20260701",
        "SLL_BUY_DVSN_CD": "00",
        "INQR_DVSN": "00",
        "CCLD_DVSN": "00",
        "INQR_DVSN_3": "00",
    }

    recent = await real.get(f"{TRADING}/inquire-daily-ccld", "TTTC0081R", query)
    archive = await real.get(f"{TRADING}/inquire-daily-ccld", "CTSC9215R", query)

    assert recent.json()["output1"] == []
    assert [r["odno"] for r in archive.json()["output1"]] == [odno]
