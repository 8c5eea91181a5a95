"""Account TRs on `/api/dostk/acnt` (digest §2.3). No account number in any request: the
account is the one the token's app key is bound to.

ka00001 account number; kt00018 holdings (paged); kt00010 buying power; ka10075 open orders,
ka10076 today's fills, kt00007 order/fill history by date (all paged). Amounts are 15-wide and
quantities 12-wide zero-padded signed strings.
"""

from __future__ import annotations

from adapters.sandbox.kiwoom import errors
from adapters.sandbox.kiwoom.calls import Call, Reply, ok, page
from adapters.sandbox.kiwoom.state import Order
from adapters.sandbox.kiwoom.wire import kst_date, kst_time, padded, rate

STK_PREFIX = "A"  # balances carry a 1-letter product prefix (A stock, J ELW, Q ETN)


def _qty(value: int) -> str:
    return padded(value, 12)


def account_number(call: Call) -> Reply:
    return Reply(ok({"acctNo": call.account.number}))


def balance(call: Call) -> Reply:
    """kt00018 계좌평가잔고내역: a summary on every page and `acnt_evlt_remn_indv_tot[]`."""
    call.choice("qry_tp", ("1", "2"))
    exchange = call.choice("dmst_stex_tp", ("KRX", "NXT"))
    if call.state.env == "mock" and exchange != "KRX":
        raise errors.fail(errors.MOCK_UNSUPPORTED)
    state, account = call.state, call.account
    rows: list[dict[str, object]] = []
    tot_pur = tot_evlt = 0
    for code in sorted(account.holdings):
        held = account.holdings[code]
        price = state.prices.get(code, 0)
        value = held.quantity * price
        tot_pur += held.cost
        tot_evlt += value
        sellable = held.quantity - state.reserved_shares(account.number, code)
        rows.append(
            {
                "stk_cd": STK_PREFIX + code,
                "stk_nm": state.names.get(code, code),
                "rmnd_qty": _qty(held.quantity),
                "trde_able_qty": _qty(sellable),
                "pur_pric": padded(held.cost // held.quantity if held.quantity else 0),
                "cur_prc": padded(price),
                "evlt_amt": padded(value),
                "evltv_prft": padded(value - held.cost),
                "prft_rt": rate(value - held.cost, held.cost),
                "pur_amt": padded(held.cost),
                "pur_cmsn": padded(0),
                "sell_cmsn": padded(0),
                "tax": padded(0),
                "poss_rt": "0.00",
                "crd_tp": "00",
            }
        )
    for row in rows:
        row["poss_rt"] = rate(int(str(row["evlt_amt"])), tot_evlt)
    chunk, cont, key = page(call, rows)
    summary = {
        "tot_pur_amt": padded(tot_pur),
        "tot_evlt_amt": padded(tot_evlt),
        "tot_evlt_pl": padded(tot_evlt - tot_pur),
        "tot_prft_rt": rate(tot_evlt - tot_pur, tot_pur),
        "prsm_dpst_aset_amt": padded(account.cash + tot_evlt),
        "tot_loan_amt": padded(0),
        "tot_dlt_amt": padded(0),
        "tot_crd_loan_amt": padded(0),
        "tot_crd_ls_amt": padded(0),
    }
    return Reply(ok({**summary, "acnt_evlt_remn_indv_tot": chunk}), cont, key)


def buying_power(call: Call) -> Reply:
    """kt00010 주문인출가능금액 for a would-be order of `stk_cd` at `uv`."""
    state, account = call.state, call.account
    code = call.text("stk_cd")
    if code not in state.prices:
        raise errors.fail(errors.UNKNOWN_STOCK)
    call.choice("trde_tp", ("1", "2"))
    uv = call.number("uv") or state.prices[code]
    free = account.cash - state.reserved_cash(account.number)
    fields = {
        "entr": padded(account.cash),
        "d2entra": padded(account.cash),
        "ord_alowa": padded(free),
        "wthd_alowa": padded(free),
        "profa_100ord_alow_amt": padded(free),
        "profa_100ord_alowq": padded(free // uv if uv else 0),
        "uncla": padded(0),
    }
    return Reply(ok(fields))


def _io_tp(order: Order) -> str:
    word = "매수" if order.side == "buy" else "매도"
    sign = "+" if order.side == "buy" else "-"
    suffix = {"new": "", "cancel": "취소", "modify": "정정"}[order.kind]
    return f"{sign}{word}{suffix}"


def _trde_name(order: Order) -> str:
    return "시장가" if order.price == 0 and order.kind != "cancel" else "보통"


def _stex(call: Call) -> str:
    stex = call.choice("stex_tp", ("0", "1", "2"))
    if call.state.env == "mock" and stex == "2":
        raise errors.fail(errors.MOCK_UNSUPPORTED)
    return stex


def _side_filter(value: str) -> tuple[str, ...]:
    return {"0": ("buy", "sell"), "1": ("sell",), "2": ("buy",)}[value or "0"]


def open_orders(call: Call) -> Reply:
    """ka10075 미체결: live orders of the account (newest first)."""
    all_stk = call.choice("all_stk_tp", ("0", "1"))
    sides = _side_filter(call.choice("trde_tp", ("0", "1", "2")))
    _stex(call)
    code = call.text("stk_cd", required=all_stk == "1")
    rows = [
        {
            "ord_no": o.ord_no,
            "orig_ord_no": o.orig_ord_no,
            "stk_cd": o.stk_cd,
            "stk_nm": call.state.names.get(o.stk_cd, o.stk_cd),
            "ord_stt": "접수",
            "ord_qty": _qty(o.qty),
            "ord_pric": padded(o.price),
            "oso_qty": _qty(o.open_qty),
            "cntr_qty": _qty(o.filled),
            "cntr_pric": padded(o.fill_price),
            "cntr_tot_amt": padded(o.fill_amount),
            "io_tp_nm": _io_tp(o),
            "trde_tp": _trde_name(o),
            "tm": kst_time(o.placed_at),
            "stex_tp": o.exchange,
            "sor_yn": "Y" if o.exchange == "SOR" else "N",
            "stop_pric": padded(0),
        }
        for o in reversed(call.state.orders)
        if o.account == call.account.number
        and o.open_qty > 0
        and o.side in sides
        and (not code or o.stk_cd == code)
    ]
    chunk, cont, key = page(call, rows)
    return Reply(ok({"oso": chunk}), cont, key)


def fills(call: Call) -> Reply:
    """ka10076 체결: today's orders with fills (newest first); `ord_no` lists only older ones."""
    call.choice("qry_tp", ("0", "1"))
    sides = _side_filter(call.choice("sell_tp", ("0", "1", "2")))
    _stex(call)
    code = call.text("stk_cd", required=False)
    before = call.text("ord_no", required=False)
    today = kst_date(call.state.now())
    rows = [
        {
            "ord_no": o.ord_no,
            "orig_ord_no": o.orig_ord_no,
            "stk_cd": o.stk_cd,
            "stk_nm": call.state.names.get(o.stk_cd, o.stk_cd),
            "ord_qty": _qty(o.qty),
            "ord_pric": padded(o.price),
            "cntr_qty": _qty(o.filled),
            "cntr_pric": padded(o.fill_price),
            "oso_qty": _qty(o.open_qty),
            "ord_stt": "체결",
            "ord_tm": kst_time(o.placed_at),
            "tdy_trde_cmsn": padded(0),
            "tdy_trde_tax": padded(0),
            "io_tp_nm": _io_tp(o),
        }
        for o in reversed(call.state.orders)
        if o.account == call.account.number
        and o.filled > 0
        and kst_date(o.placed_at) == today
        and o.side in sides
        and (not code or o.stk_cd == code)
        and (not before or o.ord_no < before.rjust(7, "0"))
    ]
    chunk, cont, key = page(call, rows)
    return Reply(ok({"cntr": chunk}), cont, key)


def history(call: Call) -> Reply:
    """kt00007 계좌별주문체결내역상세: every order record of `ord_dt` (KST), cancels included."""
    qry_tp = call.choice("qry_tp", ("1", "2", "3", "4"))
    call.choice("stk_bond_tp", ("0", "1", "2"))
    sides = _side_filter(call.choice("sell_tp", ("0", "1", "2")))
    exchange = call.choice("dmst_stex_tp", ("%", "KRX", "NXT", "SOR"))
    if call.state.env == "mock" and exchange not in ("%", "KRX"):
        raise errors.fail(errors.MOCK_UNSUPPORTED)
    day = call.text("ord_dt", required=False) or kst_date(call.state.now())
    if not (len(day) == 8 and day.isdigit()):
        raise errors.fail(errors.BAD_INPUT)
    code = call.text("stk_cd", required=False)
    start = call.text("fr_ord_no", required=False)
    selected = [
        o
        for o in call.state.orders
        if o.account == call.account.number
        and kst_date(o.placed_at) == day
        and o.side in sides
        and (not code or o.stk_cd == code)
        and (exchange == "%" or o.exchange == exchange)
        and (not start or o.ord_no >= start.rjust(7, "0"))
        and (qry_tp != "3" or o.open_qty > 0)
        and (qry_tp != "4" or o.filled > 0)
    ]
    if qry_tp == "2":
        selected.reverse()
    rows = [
        {
            "ord_no": o.ord_no,
            "ori_ord": o.orig_ord_no,
            "stk_cd": STK_PREFIX + o.stk_cd,
            "stk_nm": call.state.names.get(o.stk_cd, o.stk_cd),
            "ord_qty": _qty(o.qty),
            "ord_uv": padded(o.price),
            "cnfm_qty": _qty(o.qty if o.kind != "new" else 0),
            "cntr_qty": _qty(o.filled),
            "cntr_uv": padded(o.fill_price),
            "ord_remnq": _qty(o.open_qty),
            "mdfy_cncl": {"new": "", "cancel": "취소", "modify": "정정"}[o.kind],
            "acpt_tp": "접수",
            "ord_tm": kst_time(o.placed_at),
            "cnfm_tm": kst_time(o.placed_at) if o.kind != "new" else "",
            "io_tp_nm": _io_tp(o),
            "trde_tp": _trde_name(o),
            "dmst_stex_tp": o.exchange,
            "cond_uv": padded(0),
        }
        for o in selected
    ]
    chunk, cont, key = page(call, rows)
    return Reply(ok({"acnt_ord_cntr_prps_dtl": chunk}), cont, key)
