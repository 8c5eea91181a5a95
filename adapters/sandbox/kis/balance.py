"""inquire-balance, inquire-psbl-order and inquire-psbl-sell (spec §4.3, §4.5, §4.7).

Cash figures differ the way they do at a real broker after a trade: `dnca_tot_amt` is the
settled deposit, `nxdy_excc_amt`/`prvs_rcdl_excc_amt` add what settles by D+1/D+2, and
`ord_psbl_cash` is the D+2 figure less the cash open buy orders hold back.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from adapters.sandbox.kis import errors
from adapters.sandbox.kis.broker import BALANCE_PAGE, Broker
from adapters.sandbox.kis.calls import Call, Reply, success
from adapters.sandbox.kis.divisions import DIVISIONS
from adapters.sandbox.kis.ledger import BUY, SELL, Account, Position
from adapters.sandbox.kis.paging import paginate
from adapters.sandbox.kis.trading import reject
from adapters.sandbox.kis.wire import num, rate

PSBL_SELL_DONE = ("KIOK0420", "정상적으로 조회되었습니다")
_COLLATERAL_RATE = Decimal("0.8")


def _traded_qty(account: Account, pdno: str, day: date, side: str) -> int:
    return sum(
        f.qty for f in account.fills if f.pdno == pdno and f.trade_date == day and f.side == side
    )


def _position_row(
    broker: Broker, account: Account, position: Position, prcs: str
) -> dict[str, str]:
    now = broker.now()
    mode = broker.clock.session
    symbol = broker.prices.symbols[position.pdno]
    price = broker.prices.price(position.pdno, now, mode)
    prev_close = broker.prices.prev_close(position.pdno, broker.prices.quote_day(now, mode))
    today = now.date()
    yesterday = broker.calendar.previous_trading_day(today)
    with_yesterday = prcs == "00"
    qty = position.qty
    value = qty * price
    profit = value - position.cost
    average = Decimal(position.cost) / qty if qty else Decimal(0)
    return {
        "pdno": position.pdno,
        "prdt_name": symbol.name,
        "trad_dvsn_name": "현금",
        "bfdy_buy_qty": num(
            _traded_qty(account, position.pdno, yesterday, BUY) if with_yesterday else 0
        ),
        "bfdy_sll_qty": num(
            _traded_qty(account, position.pdno, yesterday, SELL) if with_yesterday else 0
        ),
        "thdt_buyqty": num(_traded_qty(account, position.pdno, today, BUY)),
        "thdt_sll_qty": num(_traded_qty(account, position.pdno, today, SELL)),
        "hldg_qty": num(qty),
        "ord_psbl_qty": num(broker.sellable(account, position.pdno)),
        "pchs_avg_pric": num(average, 4),
        "pchs_amt": num(position.cost),
        "prpr": num(price),
        "evlu_amt": num(value),
        "evlu_pfls_amt": num(profit),
        "evlu_pfls_rt": rate(profit, position.cost, 2),
        "evlu_erng_rt": num(Decimal(0), 8),
        "loan_dt": "",
        "loan_amt": "0",
        "stln_slng_chgs": "0",
        "expd_dt": "",
        "fltt_rt": rate(price - prev_close, prev_close, 8),
        "bfdy_cprs_icdc": num(price - prev_close),
        "item_mgna_rt_name": "20%",
        "grta_rt_name": "",
        "sbst_pric": num(int(price * _COLLATERAL_RATE)),
        "stck_loan_unpr": num(Decimal(0), 4),
    }


def _summary(broker: Broker, account: Account) -> dict[str, str]:
    now = broker.now()
    mode = broker.clock.session
    today = now.date()
    yesterday = broker.calendar.previous_trading_day(today)
    d2 = broker.d2_cash(account)
    cost = sum(p.cost for p in account.positions.values())
    value = sum(p.qty * broker.prices.price(p.pdno, now, mode) for p in account.positions.values())
    fills_today, fills_yesterday = account.fills_on(today), account.fills_on(yesterday)
    # Yesterday's total assets: undo today's fills, value yesterday's shares at the previous close.
    day = broker.prices.quote_day(now, mode)
    held_yesterday = {p.pdno: p.qty for p in account.positions.values()}
    for f in fills_today:
        held_yesterday[f.pdno] = held_yesterday.get(f.pdno, 0) + (
            -f.qty if f.side == BUY else f.qty
        )
    assets_yesterday = (d2 - sum(f.cash_effect for f in fills_today)) + sum(
        qty * broker.prices.prev_close(pdno, day) for pdno, qty in held_yesterday.items() if qty
    )
    total = value + d2
    return {
        "dnca_tot_amt": num(account.deposit),
        "nxdy_excc_amt": num(broker.d1_cash(account)),
        "prvs_rcdl_excc_amt": num(d2),
        "cma_evlu_amt": "0",
        "bfdy_buy_amt": num(sum(f.amount for f in fills_yesterday if f.side == BUY)),
        "thdt_buy_amt": num(sum(f.amount for f in fills_today if f.side == BUY)),
        "nxdy_auto_rdpt_amt": "0",
        "bfdy_sll_amt": num(sum(f.amount for f in fills_yesterday if f.side == SELL)),
        "thdt_sll_amt": num(sum(f.amount for f in fills_today if f.side == SELL)),
        "d2_auto_rdpt_amt": "0",
        "bfdy_tlex_amt": num(sum(f.fee + f.tax for f in fills_yesterday)),
        "thdt_tlex_amt": num(sum(f.fee + f.tax for f in fills_today)),
        "tot_loan_amt": "0",
        "scts_evlu_amt": num(value),
        "tot_evlu_amt": num(total),
        "nass_amt": num(total),
        "fncg_gld_auto_rdpt_yn": "",
        "pchs_amt_smtl_amt": num(cost),
        "evlu_amt_smtl_amt": num(value),
        "evlu_pfls_smtl_amt": num(value - cost),
        "tot_stln_slng_chgs": "0",
        "bfdy_tot_asst_evlu_amt": num(assets_yesterday),
        "asst_icdc_amt": num(total - assets_yesterday),
        "asst_icdc_erng_rt": num(Decimal(0), 8),
    }


def inquire_balance(call: Call) -> Reply:
    """GET trading/inquire-balance: positions in pages of 50 (real) or 20 (paper)."""
    broker, p = call.broker, call.params
    cano, prdt = p.text("CANO"), p.text("ACNT_PRDT_CD")
    account = broker.account(call.appkey, cano, prdt)
    afhr = p.text("AFHR_FLPR_YN", choices=("N", "Y", "X"))
    p.text("OFL_YN", required=False)
    # "02" (by stock) has been refused since 2026-02 (python-kis#81); only "01" works.
    inqr = p.text("INQR_DVSN", choices=("01",))
    unpr = p.text("UNPR_DVSN", choices=("01",))
    p.text("FUND_STTL_ICLD_YN", choices=("N", "Y"))
    p.text("FNCG_AMT_AUTO_RDPT_YN", choices=("N", "Y"))
    prcs = p.text("PRCS_DVSN", choices=("00", "01"))
    positions = sorted(account.positions.values(), key=lambda pos: pos.pdno)
    page = paginate(
        positions,
        size=BALANCE_PAGE[broker.env],
        query_key=f"{cano}^{prdt}^{afhr}^N^{inqr}^{unpr}^{prcs}",
        version=account.holdings_version,
        tr_cont=call.tr_cont,
        params=p,
    )
    body = {
        "ctx_area_fk100": page.ctx_fk,
        "ctx_area_nk100": page.ctx_nk,
        "output1": [_position_row(broker, account, pos, prcs) for pos in page.rows],
        "output2": [_summary(broker, account)],
        **success(broker),
    }
    return Reply(body, page.tr_cont)


def _max_qty(broker: Broker, cash: int, price: int) -> int:
    qty = cash // price if price > 0 else 0
    while qty > 0 and broker.fees.buy_cost(qty * price) > cash:
        qty -= 1
    return qty


def inquire_psbl_order(call: Call) -> Reply:
    """GET trading/inquire-psbl-order: buying power, and shares it buys at a given price."""
    broker, p = call.broker, call.params
    account = broker.account(call.appkey, p.text("CANO"), p.text("ACNT_PRDT_CD"))
    pdno = p.text("PDNO", required=False).strip()
    unit = p.number("ORD_UNPR", required=False)
    code = p.text("ORD_DVSN", required=False) or "00"
    p.text("CMA_EVLU_AMT_ICLD_YN", required=False, choices=("", "Y", "N"))
    p.text("OVRS_ICLD_YN", required=False, choices=("", "Y", "N"))
    division = DIVISIONS.get(code)
    if division is None:
        raise errors.invalid_input("ORD_DVSN")
    cash = broker.orderable_cash(account)
    calc_price = 0
    if pdno:
        if pdno not in broker.prices.symbols:
            raise reject(broker, errors.NO_SYMBOL)
        now, mode = broker.now(), broker.clock.session
        upper, _ = broker.prices.limits(pdno, broker.prices.quote_day(now, mode))
        if unit > 0:
            calc_price = unit
        elif not division.needs_price:
            calc_price = upper  # market buys are costed at the upper limit
        else:
            calc_price = broker.prices.price(pdno, now, mode)
    qty = _max_qty(broker, cash, calc_price) if calc_price else 0
    proceeds = sum(f.cash_effect for f in account.unsettled if f.side == SELL)
    output = {
        "ord_psbl_cash": num(cash),
        "ord_psbl_sbst": "0",
        "ruse_psbl_amt": num(proceeds),
        "fund_rpch_chgs": "0",
        "psbl_qty_calc_unpr": num(calc_price),
        "nrcvb_buy_amt": num(cash),
        "nrcvb_buy_qty": num(qty),
        "max_buy_amt": num(cash),
        "max_buy_qty": num(qty),
        "cma_evlu_amt": "0",
        "ovrs_re_use_amt_wcrc": "0",
        "ord_psbl_frcr_amt_wcrc": "0",
    }
    return Reply({"output": output, **success(broker)})


def inquire_psbl_sell(call: Call) -> Reply:
    """GET trading/inquire-psbl-sell (real only): the sellable quantity of one stock."""
    broker, p = call.broker, call.params
    account = broker.account(call.appkey, p.text("CANO"), p.text("ACNT_PRDT_CD"))
    pdno = p.text("PDNO").strip()
    if pdno not in broker.prices.symbols:
        raise reject(broker, errors.NO_SYMBOL)
    position = account.positions.get(pdno, Position(pdno))
    today = broker.now().date()
    price = broker.prices.price(pdno, broker.now(), broker.clock.session)
    value = position.qty * price
    average = Decimal(position.cost) / position.qty if position.qty else Decimal(0)
    output = {
        "pdno": pdno,
        "prdt_name": broker.prices.symbols[pdno].name,
        "buy_qty": num(_traded_qty(account, pdno, today, BUY)),
        "sll_qty": num(_traded_qty(account, pdno, today, SELL)),
        "cblc_qty": num(position.qty),
        "nsvg_qty": num(position.qty),
        "ord_psbl_qty": num(broker.sellable(account, pdno)),
        "pchs_avg_pric": num(average, 4),
        "pchs_amt": num(position.cost),
        "now_pric": num(price),
        "evlu_amt": num(value),
        "evlu_pfls_amt": num(value - position.cost),
        "evlu_pfls_rt": rate(value - position.cost, position.cost, 2),
    }
    return Reply({"output": output, **success(broker, PSBL_SELL_DONE)})
