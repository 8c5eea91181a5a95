"""A pass of the spec digest against the sandbox: no strictness the real API does not have
(fields real clients send blank or leave out), no leniency it does not have. Each test names
the digest section it holds the sandbox to. Request shapes are those of the broker's official
sample code (koreainvestment/open-trading-api `examples_llm`), which must run unchanged but for
its host.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.sandbox.kis.helpers import TRADING, Kis, tr


def _amend_body(kis: Kis, reply: dict[str, Any], **fields: str) -> dict[str, str]:
    output = reply["output"]
    return {
        **kis.account(),
        "KRX_FWDG_ORD_ORGNO": output["KRX_FWDG_ORD_ORGNO"],
        "ORGN_ODNO": output["ODNO"],
        "ORD_DVSN": "00",
        "RVSE_CNCL_DVSN_CD": "02",
        "ORD_QTY": "0",
        "ORD_UNPR": "0",
        "QTY_ALL_ORD_YN": "Y",
        **fields,
    }


async def _resting_buy(kis: Kis, qty: int = 5) -> dict[str, Any]:
    reply: dict[str, Any] = (await kis.order("buy", "005930", qty, 60000, "00")).json()
    assert reply["rt_cd"] == "0", reply
    return reply


# -- leniency the real API does not have -----------------------------------------------------


@pytest.mark.parametrize("venue", ["NXT", "SOR"])
async def test_paper_modify_and_cancel_are_krx_only(paper: Kis, venue: str) -> None:
    """Spec §4.2 (`EXCG_ID_DVSN_CD`: "paper KRX only"), as §4.1 for new orders: a paper cancel
    or modify naming another venue is refused like a paper order there (90000000), and the
    order keeps working; KRX or blank goes through."""
    reply = await _resting_buy(paper)
    path, tr_id = f"{TRADING}/order-rvsecncl", tr("paper", "TTTC0013U")

    cancel = await paper.post(path, tr_id, _amend_body(paper, reply, EXCG_ID_DVSN_CD=venue))
    modify = await paper.post(
        path,
        tr_id,
        _amend_body(
            paper,
            reply,
            EXCG_ID_DVSN_CD=venue,
            RVSE_CNCL_DVSN_CD="01",
            ORD_QTY="1",
            ORD_UNPR="61000",
            QTY_ALL_ORD_YN="N",
        ),
    )
    order = paper.broker.book.find(reply["output"]["ODNO"])
    open_before = order.open_qty
    krx = await paper.post(path, tr_id, _amend_body(paper, reply, EXCG_ID_DVSN_CD="KRX"))

    assert [cancel.json()["msg_cd"], modify.json()["msg_cd"]] == ["90000000", "90000000"]
    assert open_before == 5
    assert krx.json()["msg_cd"] == "40630000"
    assert order.open_qty == 0


async def test_modify_or_cancel_with_an_unknown_venue_is_opsq2001(real: Kis) -> None:
    """Spec §4.2/§4.11: `EXCG_ID_DVSN_CD` is KRX, NXT or SOR (blank → KRX); anything else is
    an input error, on a cancel as on a new order."""
    reply = await _resting_buy(real)

    refused = await real.post(
        f"{TRADING}/order-rvsecncl",
        "TTTC0013U",
        _amend_body(real, reply, EXCG_ID_DVSN_CD="XYZ"),
    )

    assert (refused.json()["rt_cd"], refused.json()["msg_cd"]) == ("2", "OPSQ2001")
    assert refused.json()["msg1"].endswith("INVALID_CHECK_EXCG_ID_DVSN_CD")
    assert real.broker.book.find(reply["output"]["ODNO"]).open_qty == 5


# -- no strictness the real API does not have ------------------------------------------------


async def test_optional_order_fields_sent_blank_are_accepted(real: Kis, paper: Kis) -> None:
    """Spec §4.1: `SLL_TYPE`, `CNDT_PRIC` and `EXCG_ID_DVSN_CD` are optional (N); the official
    sample sends the first two blank on every order, and blank venue means KRX."""
    for kis in (real, paper):
        reply = await kis.order(
            "buy", "005930", 1, 60000, "00", SLL_TYPE="", CNDT_PRIC="", EXCG_ID_DVSN_CD=""
        )
        assert reply.json()["rt_cd"] == "0", reply.json()
        (order,) = [o for o in kis.broker.book.orders if o.odno == reply.json()["output"]["ODNO"]]
        assert order.venue == "KRX"


async def test_cancel_as_the_official_sample_sends_it_cancels_the_rest(real: Kis) -> None:
    """Spec §4.2: `QTY_ALL_ORD_YN` Y cancels all remaining whatever `ORD_QTY` says, and a
    cancel's price is not used; the official sample's cancel sends `ORD_QTY` "1" and a price
    with Y, and a venue."""
    reply = await _resting_buy(real, 5)

    cancelled = await real.post(
        f"{TRADING}/order-rvsecncl",
        "TTTC0013U",
        _amend_body(real, reply, ORD_QTY="1", ORD_UNPR="55000", EXCG_ID_DVSN_CD="KRX"),
    )

    assert cancelled.json()["msg_cd"] == "APBK0013"
    assert real.broker.book.find(reply["output"]["ODNO"]).open_qty == 0


async def test_daily_fills_without_the_optional_filters(real: Kis, paper: Kis) -> None:
    """Spec §4.4: `PDNO`, `ORD_GNO_BRNO`, `ODNO`, `INQR_DVSN_1` may be blank or left out and
    `EXCG_ID_DVSN_CD` too (the official sample adds it only when given); the order placed is
    listed either way."""
    for kis in (real, paper):
        placed = await _resting_buy(kis, 2)
        params = {
            **kis.account(),
            "INQR_STRT_DT": "20260312",
            "INQR_END_DT": "20260312",
            "SLL_BUY_DVSN_CD": "00",
            "CCLD_DVSN": "00",
            "INQR_DVSN": "00",
            "INQR_DVSN_3": "00",
        }
        listed = await kis.get(f"{TRADING}/inquire-daily-ccld", tr(kis.env, "TTTC0081R"), params)
        body = listed.json()
        assert body["rt_cd"] == "0", body
        assert placed["output"]["ODNO"] in [row["odno"] for row in body["output1"]]
