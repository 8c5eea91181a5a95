"""inquire-daily-ccld and inquire-psbl-rvsecncl: the broker's order list (spec §4.4, §4.6).

daily-ccld is the paper client's only way to find open orders and every client's way to
settle an order whose reply was lost. Rows carry the original order number of modify and
cancel records; `rmn_qty` of a day order that expired unfilled stays as it was.
"""

from __future__ import annotations

import calendar
from datetime import date
from decimal import Decimal

from adapters.sandbox.kis import errors
from adapters.sandbox.kis.broker import DAILY_CCLD_PAGE, OPEN_ORDERS_PAGE, Broker
from adapters.sandbox.kis.calls import Call, Reply, success
from adapters.sandbox.kis.ledger import BUY, SELL
from adapters.sandbox.kis.orders import Order
from adapters.sandbox.kis.paging import paginate
from adapters.sandbox.kis.trading import reject
from adapters.sandbox.kis.wire import kst_date, kst_time, num

_SIDE_NAMES = {
    ("new", BUY): "현금매수",
    ("new", SELL): "현금매도",
    ("modify", BUY): "매수정정*",
    ("modify", SELL): "매도정정*",
    ("cancel", BUY): "매수취소*",
    ("cancel", SELL): "매도취소*",
}
_TIF_NAMES = {"day": "없음", "ioc": "IOC", "fok": "FOK"}


def _three_months_before(day: date) -> date:
    year, month0 = divmod(day.year * 12 + day.month - 1 - 3, 12)
    last_day = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(day.day, last_day))


def _avg_price(order: Order) -> int:
    return order.filled_amount // order.filled_qty if order.filled_qty else 0


def _ccld_row(broker: Broker, order: Order) -> dict[str, str]:
    symbol = broker.prices.symbols[order.pdno]
    return {
        "ord_dt": kst_date(order.placed_at),
        "ord_gno_brno": order.orgno,
        "odno": order.odno,
        "orgn_odno": order.orgn_odno,
        "ord_dvsn_name": order.division.name,
        "sll_buy_dvsn_cd": order.side,
        "sll_buy_dvsn_cd_name": _SIDE_NAMES[(order.kind, order.side)],
        "pdno": order.pdno,
        "prdt_name": symbol.name,
        "ord_qty": num(order.qty),
        "ord_unpr": num(order.unit_price),
        "ord_tmd": kst_time(order.placed_at),
        "tot_ccld_qty": num(order.filled_qty),
        "avg_prvs": num(_avg_price(order)),
        "cncl_yn": "Y" if order.kind == "cancel" else "N",
        "tot_ccld_amt": num(order.filled_amount),
        "loan_dt": "",
        "ordr_empno": "",
        "ord_dvsn_cd": order.division.code,
        "cncl_cfrm_qty": num(order.cancelled_qty),
        "rmn_qty": num(order.remaining),
        "rjct_qty": "0",
        "ccld_cndt_name": _TIF_NAMES[order.division.tif],
        "inqr_ip_addr": "",
        "cpbc_ordp_ord_rcit_dvsn_cd": "",
        "cpbc_ordp_infm_mthd_dvsn_cd": "",
        "infm_tmd": "",
        "ctac_tlno": "",
        "prdt_type_cd": "300",
        "excg_dvsn_cd": "",
        "cpbc_ordp_mtrl_dvsn_cd": "",
        "ord_orgno": order.orgno,
        "rsvn_ord_end_dt": "",
        "excg_id_dvsn_Cd": order.venue,
        "stpm_cndt_pric": num(order.trigger_price),
        "stpm_efct_occr_dtmd": "",
    }


def _stop_state(order: Order) -> str:
    """Whether a stop-limit order has been triggered; blank for every other division."""
    if order.division.pricing != "stop":
        return ""
    return "Y" if order.triggered else "N"


def inquire_daily_ccld(call: Call) -> Reply:
    """GET trading/inquire-daily-ccld: orders and fills of a period, 100 (real) / 15 (paper)."""
    broker, p = call.broker, call.params
    cano, prdt = p.text("CANO"), p.text("ACNT_PRDT_CD")
    account = broker.account(call.appkey, cano, prdt)
    start, end = p.day("INQR_STRT_DT"), p.day("INQR_END_DT")
    side = p.text("SLL_BUY_DVSN_CD", choices=("00", "01", "02"))
    pdno = p.text("PDNO", required=False).strip()
    p.text("ORD_GNO_BRNO", required=False)
    odno = p.text("ODNO", required=False).strip()
    filled = p.text("CCLD_DVSN", choices=("00", "01", "02"))
    direction = p.text("INQR_DVSN", choices=("00", "01"))
    p.text("INQR_DVSN_1", required=False, choices=("", "0", "1", "2"))
    p.text("INQR_DVSN_3", choices=("00", "01", "02", "03", "04", "05", "06", "07"))
    venue = p.text("EXCG_ID_DVSN_CD", required=False, choices=("", "KRX", "NXT", "SOR", "ALL"))
    if broker.env == "paper" and venue not in ("", "KRX"):
        raise reject(broker, errors.PAPER_UNSUPPORTED)
    # The ≤3-month TR and the older-period TR each see only their own side of the boundary.
    boundary = _three_months_before(broker.now().date())
    recent = call.variant == "recent"
    rows = [
        o
        for o in broker.book.of_account(account.number)
        if start <= o.trade_date <= end
        and (o.trade_date >= boundary) == recent
        and side in ("00", o.side)
        and (not pdno or o.pdno == pdno)
        and (not odno or (odno.isdigit() and int(odno) == int(o.odno)))
        and (filled != "01" or o.filled_qty > 0)
        and (filled != "02" or o.open_qty > 0)
        and (venue in ("", "ALL") or o.venue == venue)
    ]
    if direction == "00":
        rows.reverse()
    page = paginate(
        rows,
        size=DAILY_CCLD_PAGE[broker.env],
        query_key=f"{cano}^{prdt}^{start:%Y%m%d}^{end:%Y%m%d}^{side}^{filled}^{direction}",
        version=account.orders_version,
        tr_cont=call.tr_cont,
        params=p,
    )
    odnos = {o.odno for o in rows}
    filled_qty = sum(o.filled_qty for o in rows)
    filled_amount = sum(o.filled_amount for o in rows)
    costs = sum(f.fee + f.tax for f in account.fills if f.odno in odnos)
    average = Decimal(filled_amount) / filled_qty if filled_qty else Decimal(0)
    summary = {
        "tot_ord_qty": num(sum(o.qty for o in rows)),
        "tot_ccld_qty": num(filled_qty),
        "tot_ccld_amt": num(filled_amount),
        "prsm_tlex_smtl": num(costs),
        "pchs_avg_pric": num(average, 4),
    }
    body = {
        "ctx_area_fk100": page.ctx_fk,
        "ctx_area_nk100": page.ctx_nk,
        "output1": [_ccld_row(broker, o) for o in page.rows],
        "output2": summary,
        **success(broker),
    }
    return Reply(body, page.tr_cont)


def inquire_psbl_rvsecncl(call: Call) -> Reply:
    """GET trading/inquire-psbl-rvsecncl (real only): orders that can still be modified."""
    broker, p = call.broker, call.params
    cano, prdt = p.text("CANO"), p.text("ACNT_PRDT_CD")
    account = broker.account(call.appkey, cano, prdt)
    order_by = p.text("INQR_DVSN_1", choices=("0", "1", "2"))
    side = p.text("INQR_DVSN_2", choices=("0", "1", "2"))
    wanted = {"0": (SELL, BUY), "1": (SELL,), "2": (BUY,)}[side]
    rows = [o for o in broker.live_orders(account) if o.side in wanted and o.open_qty > 0]
    if order_by == "2":
        rows.sort(key=lambda o: (o.pdno, o.odno))
    page = paginate(
        rows,
        size=OPEN_ORDERS_PAGE,
        query_key=f"{cano}^{prdt}^{order_by}^{side}",
        version=account.orders_version,
        tr_cont=call.tr_cont,
        params=p,
    )
    output = [
        {
            "ord_gno_brno": o.orgno,
            "odno": o.odno,
            "orgn_odno": o.orgn_odno,
            "ord_dvsn_name": o.division.name,
            "pdno": o.pdno,
            "prdt_name": broker.prices.symbols[o.pdno].name,
            "rvse_cncl_dvsn_name": _SIDE_NAMES[(o.kind, o.side)],
            "ord_qty": num(o.qty),
            "ord_unpr": num(o.unit_price),
            "ord_tmd": kst_time(o.placed_at),
            "tot_ccld_qty": num(o.filled_qty),
            "tot_ccld_amt": num(o.filled_amount),
            "psbl_qty": num(o.open_qty),
            "sll_buy_dvsn_cd": o.side,
            "ord_dvsn_cd": o.division.code,
            "mgco_aptm_odno": "",
            "excg_dvsn_cd": "",
            "excg_id_dvsn_cd": o.venue,
            "excg_id_dvsn_name": o.venue,
            "stpm_cndt_pric": num(o.trigger_price),
            "stpm_efct_occr_yn": _stop_state(o),
        }
        for o in page.rows
    ]
    body = {
        "ctx_area_fk100": page.ctx_fk,
        "ctx_area_nk100": page.ctx_nk,
        "output": output,
        **success(broker),
    }
    return Reply(body, page.tr_cont)
