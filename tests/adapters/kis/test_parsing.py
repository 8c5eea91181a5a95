"""Vendor payload parsing and mapping: tolerant schemas, KST times, Decimal money."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from adapters.kis import mapping
from adapters.kis.schemas import BalancePage, DailyPage, OrderReply, PayloadError, parse_json
from adapters.sandbox.kis.clock import KST
from orchestrator.domain.model import AccountKind, AccountRef, Institution, OrderState, Side

ACCOUNT = AccountRef("demo", "kis-real", Institution.KIS, AccountKind.BROKERAGE, "50012345-01")


def test_order_output_is_read_case_insensitively_and_keeps_raw() -> None:
    """Upper- or lowercase order keys parse alike; unknown fields and the raw payload are kept."""
    upper = {
        "rt_cd": "0",
        "output": {"KRX_FWDG_ORD_ORGNO": "91252", "ODNO": "0000482713", "NEW": 1},
    }
    lower = {"rt_cd": "0", "output": [{"krx_fwdg_ord_orgno": "91252", "odno": "0000482713"}]}

    a, b = OrderReply.parse(upper), OrderReply.parse(lower)

    assert a.output is not None
    assert b.output is not None
    assert (a.output.odno, a.output.krx_fwdg_ord_orgno) == (b.output.odno, "91252")
    assert a.output.model_extra == {"new": "1"}
    assert a.raw == upper


def test_missing_and_null_fields_default_to_blank() -> None:
    """Missing, null and numeric values become strings; output2 as object or array both work."""
    page = BalancePage.parse(
        {"rt_cd": "0", "output1": [{"pdno": "005930", "hldg_qty": 3, "prpr": None}],
         "output2": {"dnca_tot_amt": "100"}}
    )  # fmt: skip
    daily = DailyPage.parse({"rt_cd": "0", "output1": [], "output2": [{"tot_ccld_qty": "1"}]})

    assert page.output1[0].hldg_qty == "3"
    assert page.output1[0].prpr == ""
    assert page.output1[0].pchs_avg_pric == ""
    assert page.output2[0].dnca_tot_amt == "100"
    assert daily.output2 is not None
    assert daily.output2.tot_ccld_qty == "1"


def test_numbers_stay_exact() -> None:
    """JSON numbers are parsed as Decimal, never float."""
    data = parse_json(b'{"rt_cd": "0", "x": 135440.2517}')

    assert data["x"] == Decimal("135440.2517")
    with pytest.raises(PayloadError):
        parse_json(b"[1, 2]")


def test_token_expiry_is_kst_wall_clock() -> None:
    """ "2023-12-22 08:16:59" is KST: 23:16:59 UTC the day before."""
    expiry = mapping.parse_expiry("2023-12-22 08:16:59")

    assert expiry is not None
    assert expiry.astimezone(UTC) == datetime(2023, 12, 21, 23, 16, 59, tzinfo=UTC)


def test_daily_rows_map_to_reports() -> None:
    """Fills, averages, branch, KST times; a cancel row marks its original cancelled."""
    rows = DailyPage.parse(
        {
            "rt_cd": "0",
            "output1": [
                {"ord_dt": "20260312", "ord_tmd": "100000", "odno": "0000000007",
                 "ord_gno_brno": "91252", "sll_buy_dvsn_cd": "02", "pdno": "005930",
                 "ord_qty": "10", "ord_unpr": "70000", "ord_dvsn_cd": "00",
                 "tot_ccld_qty": "4", "avg_prvs": "70000", "tot_ccld_amt": "280000",
                 "cncl_yn": "N", "cncl_cfrm_qty": "6", "rmn_qty": "0"},
                {"ord_dt": "20260312", "ord_tmd": "100500", "odno": "0000000008",
                 "orgn_odno": "0000000007", "ord_gno_brno": "91252", "sll_buy_dvsn_cd": "02",
                 "sll_buy_dvsn_cd_name": "매수취소*", "pdno": "005930", "ord_qty": "6",
                 "cncl_yn": "Y"},
                {"ord_dt": "20260312", "ord_tmd": "101000", "odno": "0000000009",
                 "ord_gno_brno": "91252", "sll_buy_dvsn_cd": "01", "pdno": "069500",
                 "ord_qty": "2", "ord_unpr": "0", "ord_dvsn_cd": "01", "tot_ccld_qty": "2",
                 "avg_prvs": "35000", "unexpected": "kept"},
            ],
        }
    ).output1  # fmt: skip

    reports = mapping.reports_from_daily(rows, ACCOUNT)

    assert [r.order_id for r in reports] == ["0000000007", "0000000009"]
    partly, sold = reports
    assert (partly.state, partly.cancelled, partly.filled_quantity) == (
        OrderState.CANCELLED,
        True,
        4,
    )
    assert partly.avg_fill_price == Decimal(70000)
    assert partly.placed_at == datetime(2026, 3, 12, 10, 0, tzinfo=KST)
    assert (sold.side, sold.state, sold.limit_price) == (Side.SELL, OrderState.FILLED, None)


def test_positions_merge_lots_and_skip_sold_out_rows() -> None:
    """Two lots of one symbol merge (weighted average); hldg_qty 0 rows are left out."""
    rows = BalancePage.parse(
        {
            "rt_cd": "0",
            "output1": [
                {"pdno": "005930", "prdt_name": "삼성전자", "hldg_qty": "10",
                 "pchs_amt": "700000", "prpr": "72100"},
                {"pdno": "005930", "hldg_qty": "10", "pchs_amt": "720000", "prpr": "72100"},
                {"pdno": "000660", "hldg_qty": "0", "pchs_amt": "0"},
            ],
        }
    ).output1  # fmt: skip

    positions = mapping.positions_from(rows, ACCOUNT, datetime(2026, 3, 12, tzinfo=UTC))

    assert [(p.symbol, p.quantity, p.avg_price, p.last_price) for p in positions] == [
        ("005930", 20, Decimal("71000.0000"), Decimal(72100))
    ]


def test_order_bodies_use_uppercase_keys_and_string_numbers() -> None:
    """order-cash bodies: limit 00 at the price, market 01 at "0", venue KRX, all strings."""
    from tests.adapters.kis.support import intent

    limit = mapping.cash_order_body(intent(ACCOUNT, price=70_000, qty=3))
    market = mapping.cash_order_body(intent(ACCOUNT))

    assert limit == {
        "CANO": "50012345", "ACNT_PRDT_CD": "01", "PDNO": "005930", "ORD_DVSN": "00",
        "ORD_QTY": "3", "ORD_UNPR": "70000", "EXCG_ID_DVSN_CD": "KRX",
    }  # fmt: skip
    assert (market["ORD_DVSN"], market["ORD_UNPR"]) == ("01", "0")


def test_more_pages_letters() -> None:
    """tr_cont F/M mean more pages; D/E (and blank) mean last (spec §4.9)."""
    assert [mapping.has_more(x) for x in ("F", "M", "D", "E", "", " m ")] == [
        True, True, False, False, False, True,
    ]  # fmt: skip
