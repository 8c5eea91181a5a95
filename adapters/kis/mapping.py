"""Vendor shapes ↔ domain values: the only module besides schemas.py that names KIS fields.

Requests: headers (spec §3), bodies and queries with UPPERCASE keys and string numbers.
Replies: parsed schemas → domain values with Decimal money, int quantities and aware datetimes.
KST (the wall clock of every KIS date, time and expiry string) is applied here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal

from adapters.http.krx import cancelled, kst_date, parse_kst, wire_int
from adapters.http.tokens import IssuedToken
from adapters.kis.schemas import (
    BalanceRow,
    BalanceSummary,
    DailyRow,
    OrderReply,
    PayloadError,
    PriceReply,
    PsblOrderOutput,
    TokenReply,
)
from adapters.kis.settings import Env
from orchestrator.domain.model import (
    AccountRef,
    CashBalance,
    Direction,
    OrderIntent,
    OrderReport,
    OrderState,
    OrderType,
    Position,
    Quote,
    Side,
    Transaction,
)
from orchestrator.domain.money import ZERO, to_money
from orchestrator.domain.timeutil import KST

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
VENUE = "KRX"  # paper accepts KRX only (spec §4.1); the adapter places every order there
ORD_DVSN_LIMIT = "00"  # 지정가 (spec §4.11)
ORD_DVSN_MARKET = "01"  # 시장가
SELL_CODE = "01"  # SLL_BUY_DVSN_CD (spec §4.11)
BUY_CODE = "02"
CANCEL_CODE = "02"  # RVSE_CNCL_DVSN_CD
_MORE_PAGES = frozenset({"F", "M"})  # response tr_cont: F/M more follow, D/E last (spec §4.9)


# --- plain values -----------------------------------------------------------------------------


def money(value: str, *, field: str = "amount") -> Decimal:
    """A KIS number string as Decimal; blank is zero (KIS sends "" for empty values)."""
    return to_money(value, field=field)


def quantity(value: str, *, field: str = "qty") -> int:
    """A share count; KIS writes them as digit strings, sometimes with a decimal tail."""
    number = to_money(value, field=field)
    if number != number.to_integral_value():
        raise PayloadError(f"{field}: not a whole number of shares")
    return int(number)


def parse_expiry(text: str) -> datetime | None:
    """`access_token_token_expired` ("YYYY-MM-DD HH:MM:SS", KST; spec §2.1) as aware datetime."""
    try:
        naive = datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S")  # noqa: DTZ007 — KST below
    except ValueError:
        return None
    return naive.replace(tzinfo=KST)


def split_account(external_ref: str) -> tuple[str, str]:
    """ "CANO-ACNT_PRDT_CD" → (CANO, ACNT_PRDT_CD); ValueError when malformed."""
    cano, _, product = external_ref.strip().partition("-")
    if not (len(cano) == 8 and cano.isdigit() and len(product) == 2 and product.isdigit()):
        raise ValueError("KIS account must be CANO-ACNT_PRDT_CD (8 + 2 digits)")
    return cano, product


def mask_account(external_ref: str) -> str:
    """Every digit but the last four hidden: "50012345-01" → "******45-01"."""
    total = sum(ch.isdigit() for ch in external_ref)
    seen = 0
    out = []
    for ch in external_ref:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen > total - 4 else "*")
        else:
            out.append(ch)
    return "".join(out)


# --- requests ---------------------------------------------------------------------------------


def headers(
    *,
    app_key: str,
    app_secret: str,
    token: str | None = None,
    tr_id: str = "",
    tr_cont: str = "",
    custtype: str = "P",
    hashkey: str | None = None,
) -> dict[str, str]:
    """Request headers (spec §3). `token` None for tokenP/revokeP/hashkey."""
    out = {"content-type": JSON_CONTENT_TYPE, "appkey": app_key, "appsecret": app_secret}
    if token is not None:
        out["authorization"] = f"Bearer {token}"
    if tr_id:
        out["tr_id"] = tr_id
        out["custtype"] = custtype
        out["tr_cont"] = tr_cont
    if hashkey:
        out["hashkey"] = hashkey
    return out


def token_body(app_key: str, app_secret: str) -> dict[str, str]:
    return {"grant_type": "client_credentials", "appkey": app_key, "appsecret": app_secret}


def revoke_body(app_key: str, app_secret: str, token: str) -> dict[str, str]:
    return {"appkey": app_key, "appsecret": app_secret, "token": token}


def cash_order_body(intent: OrderIntent) -> dict[str, str]:
    """order-cash body (spec §4.1): limit `00` at the limit price, market `01` at "0"."""
    cano, product = split_account(intent.account.external_ref)
    market = intent.order_type is OrderType.MARKET
    price = ZERO if market or intent.limit_price is None else intent.limit_price
    return {
        "CANO": cano,
        "ACNT_PRDT_CD": product,
        "PDNO": intent.symbol,
        "ORD_DVSN": ORD_DVSN_MARKET if market else ORD_DVSN_LIMIT,
        "ORD_QTY": wire_int(intent.quantity),
        "ORD_UNPR": wire_int(price),
        "EXCG_ID_DVSN_CD": VENUE,
    }


def cancel_body(order: OrderReport) -> dict[str, str]:
    """order-rvsecncl body cancelling all that is left (spec §4.2: `02`, qty 0 + ALL=Y)."""
    cano, product = split_account(order.account.external_ref)
    market = order.order_type is OrderType.MARKET
    return {
        "CANO": cano,
        "ACNT_PRDT_CD": product,
        "KRX_FWDG_ORD_ORGNO": order.branch,
        "ORGN_ODNO": order.order_id,
        "ORD_DVSN": ORD_DVSN_MARKET if market else ORD_DVSN_LIMIT,
        "RVSE_CNCL_DVSN_CD": CANCEL_CODE,
        "ORD_QTY": "0",
        "ORD_UNPR": "0",
        "QTY_ALL_ORD_YN": "Y",
        "EXCG_ID_DVSN_CD": VENUE,
    }


def balance_query(account: AccountRef) -> dict[str, str]:
    """inquire-balance first-page query (spec §4.3; INQR_DVSN 01: 02 is refused since 2026-02)."""
    cano, product = split_account(account.external_ref)
    return {
        "CANO": cano,
        "ACNT_PRDT_CD": product,
        "AFHR_FLPR_YN": "N",
        "OFL_YN": "",
        "INQR_DVSN": "01",
        "UNPR_DVSN": "01",
        "FUND_STTL_ICLD_YN": "N",
        "FNCG_AMT_AUTO_RDPT_YN": "N",
        "PRCS_DVSN": "00",
        "CTX_AREA_FK100": "",
        "CTX_AREA_NK100": "",
    }


def daily_query(account: AccountRef, start: date, end: date, env: Env) -> dict[str, str]:
    """inquire-daily-ccld first-page query over [start, end] (spec §4.4), every order."""
    cano, product = split_account(account.external_ref)
    return {
        "CANO": cano,
        "ACNT_PRDT_CD": product,
        "INQR_STRT_DT": start.strftime("%Y%m%d"),
        "INQR_END_DT": end.strftime("%Y%m%d"),
        "SLL_BUY_DVSN_CD": "00",
        "INQR_DVSN": "01",  # chronological
        "PDNO": "",
        "CCLD_DVSN": "00",
        "ORD_GNO_BRNO": "",
        "ODNO": "",
        "INQR_DVSN_3": "00",
        "INQR_DVSN_1": "",
        # Paper knows KRX only; real lists every venue so orders placed elsewhere are seen too.
        "EXCG_ID_DVSN_CD": "KRX" if env == "paper" else "ALL",
        "CTX_AREA_FK100": "",
        "CTX_AREA_NK100": "",
    }


def psbl_order_query(account: AccountRef) -> dict[str, str]:
    """inquire-psbl-order for amounts only: blank PDNO and price (spec §4.5)."""
    cano, product = split_account(account.external_ref)
    return {
        "CANO": cano,
        "ACNT_PRDT_CD": product,
        "PDNO": "",
        "ORD_UNPR": "",
        "ORD_DVSN": ORD_DVSN_MARKET,
        "CMA_EVLU_AMT_ICLD_YN": "N",
        "OVRS_ICLD_YN": "N",
    }


def price_query(symbol: str) -> dict[str, str]:
    """inquire-price on KRX (spec §4.8)."""
    return {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": symbol}


# --- paging -----------------------------------------------------------------------------------


def has_more(tr_cont: str) -> bool:
    """Whether the response `tr_cont` header says more pages follow (F/M; D/E end)."""
    return tr_cont.strip().upper() in _MORE_PAGES


def context_of(page: Mapping[str, object]) -> tuple[str, str]:
    """The page's continuation keys, untrimmed as the official samples pass them back."""
    found = {str(key).lower(): value for key, value in page.items()}
    fk, nk = found.get("ctx_area_fk100", ""), found.get("ctx_area_nk100", "")
    return (fk if isinstance(fk, str) else ""), (nk if isinstance(nk, str) else "")


def next_page_query(query: Mapping[str, str], fk: str, nk: str) -> dict[str, str]:
    return {**query, "CTX_AREA_FK100": fk, "CTX_AREA_NK100": nk}


# --- replies ----------------------------------------------------------------------------------


def token_from(reply: TokenReply, now: datetime) -> IssuedToken:
    """The token and its expiry: `access_token_token_expired` (KST), else now + expires_in.

    `expires_in` is unreliable for a re-sent token (spec §2.1), so it is only the fallback.
    """
    if not reply.access_token:
        raise PayloadError("token reply without access_token")
    expires = parse_expiry(reply.access_token_token_expired)
    if expires is None:
        seconds = int(money(reply.expires_in or "0", field="expires_in"))
        expires = now + timedelta(seconds=seconds)
    return IssuedToken(reply.access_token, expires)


def report_from_order(reply: OrderReply, intent: OrderIntent, now: datetime) -> OrderReport:
    """The acknowledgement of a new order; PayloadError if KIS named no order number."""
    output = reply.output
    if output is None or not output.odno.strip():
        raise PayloadError("order accepted without ODNO")
    placed = parse_kst(kst_date(now), output.ord_tmd) or now
    return OrderReport(
        order_id=output.odno.strip(),
        account=intent.account,
        symbol=intent.symbol,
        side=intent.side,
        quantity=intent.quantity,
        state=OrderState.ACCEPTED,
        placed_at=placed,
        order_type=intent.order_type,
        limit_price=intent.limit_price,
        branch=output.krx_fwdg_ord_orgno.strip(),
    )


def cancel_order_id(reply: OrderReply) -> str:
    output = reply.output
    return output.odno.strip() if output is not None else ""


def _is_cancel_row(row: DailyRow) -> bool:
    if not row.orgn_odno.strip():
        return False
    label = f"{row.ord_dvsn_name} {row.sll_buy_dvsn_cd_name}".upper()
    return row.cncl_yn.strip().upper() == "Y" or "취소" in label or "CANCEL" in label


def _report_from_row(row: DailyRow, account: AccountRef) -> OrderReport:
    qty = quantity(row.ord_qty, field="ord_qty")
    filled = quantity(row.tot_ccld_qty, field="tot_ccld_qty")
    cancelled_qty = quantity(row.cncl_cfrm_qty, field="cncl_cfrm_qty")
    rejected = quantity(row.rjct_qty, field="rjct_qty")
    price = money(row.ord_unpr, field="ord_unpr")
    market = row.ord_dvsn_cd.strip() == ORD_DVSN_MARKET or price == ZERO
    avg: Decimal | None = None
    if filled:
        avg = money(row.avg_prvs, field="avg_prvs")
        if avg == ZERO:
            avg = money(row.tot_ccld_amt, field="tot_ccld_amt") / filled
    cancelled = row.cncl_yn.strip().upper() == "Y" or cancelled_qty > 0
    if rejected and not filled:
        state = OrderState.REJECTED
    elif qty and filled >= qty:
        state = OrderState.FILLED
    elif cancelled:
        state = OrderState.CANCELLED
    elif filled:
        state = OrderState.PARTIALLY_FILLED
    else:
        state = OrderState.ACCEPTED
    placed = parse_kst(row.ord_dt, row.ord_tmd)
    if placed is None:
        raise PayloadError("daily order row without ord_dt")
    return OrderReport(
        order_id=row.odno.strip(),
        account=account,
        symbol=row.pdno.strip(),
        side=Side.SELL if row.sll_buy_dvsn_cd.strip() == SELL_CODE else Side.BUY,
        quantity=qty,
        state=state,
        placed_at=placed,
        order_type=OrderType.MARKET if market else OrderType.LIMIT,
        limit_price=None if market else price,
        filled_quantity=filled,
        avg_fill_price=avg,
        branch=row.ord_gno_brno.strip(),
        cancelled=cancelled,
    )


def reports_from_daily(rows: Sequence[DailyRow], account: AccountRef) -> list[OrderReport]:
    """Orders from daily-ccld rows, oldest first. A cancel request is a row of its own at KIS
    (new ODNO, `orgn_odno` → original): it marks the original cancelled instead of being listed.
    A modification is listed as the new order it is."""
    reports: dict[str, OrderReport] = {}
    cancels: list[str] = []
    for row in rows:
        if _is_cancel_row(row):
            cancels.append(row.orgn_odno.strip().lstrip("0"))
            continue
        report = _report_from_row(row, account)
        reports.setdefault(report.order_id, report)
    for key in cancels:
        for order_id, report in reports.items():
            if order_id.lstrip("0") == key:
                reports[order_id] = cancelled(report)
    return sorted(reports.values(), key=lambda r: (r.placed_at, r.order_id))


def transactions_from_daily(rows: Sequence[DailyRow], account: AccountRef) -> list[Transaction]:
    """Gross cash moves implied by fills (buy: out, sell: in); fees and taxes not included."""
    out = []
    for report in reports_from_daily(rows, account):
        if not report.filled_quantity or report.avg_fill_price is None:
            continue
        amount = report.avg_fill_price * report.filled_quantity
        out.append(
            Transaction(
                account=account,
                tx_id=f"fill:{kst_date(report.placed_at)}:{report.order_id}",
                occurred_at=report.placed_at,
                direction=Direction.OUT if report.side is Side.BUY else Direction.IN,
                amount=amount,
                description=f"{report.side} {report.symbol} x{report.filled_quantity}",
            )
        )
    return out


def positions_from(
    rows: Sequence[BalanceRow], account: AccountRef, as_of: datetime
) -> list[Position]:
    """Holdings by symbol. Rows of one symbol (cash and loan lots, `INQR_DVSN=01`) are merged;
    rows with `hldg_qty` 0 (sold today, settling until D+2; spec §4.3) are left out."""
    merged: dict[str, tuple[int, Decimal, Decimal | None, str]] = {}
    for row in rows:
        held = quantity(row.hldg_qty, field="hldg_qty")
        symbol = row.pdno.strip()
        if held <= 0 or not symbol:
            continue
        cost = money(row.pchs_amt, field="pchs_amt")
        if cost == ZERO:
            cost = money(row.pchs_avg_pric, field="pchs_avg_pric") * held
        last = money(row.prpr, field="prpr") if row.prpr.strip() else None
        prev_qty, prev_cost, _, _ = merged.get(symbol, (0, ZERO, None, ""))
        merged[symbol] = (prev_qty + held, prev_cost + cost, last, row.prdt_name.strip())
    return [
        Position(
            account=account,
            symbol=symbol,
            quantity=held,
            avg_price=(cost / held).quantize(Decimal("0.0001")),
            as_of=as_of,
            name=name,
            last_price=last,
        )
        for symbol, (held, cost, last, name) in merged.items()
    ]


def cash_from(
    summary: BalanceSummary,
    orderable: PsblOrderOutput | None,
    account: AccountRef,
    as_of: datetime,
) -> CashBalance:
    """deposit = 예수금 total (`dnca_tot_amt`, unsettled trades still inside); withdrawable =
    D+2 settled cash (`prvs_rcdl_excc_amt`); orderable = `ord_psbl_cash` of inquire-psbl-order,
    else the D+2 figure (spec §4.3 cash semantics, §4.5, python-kis#78)."""
    deposit = money(summary.dnca_tot_amt, field="dnca_tot_amt")
    withdrawable = money(summary.prvs_rcdl_excc_amt, field="prvs_rcdl_excc_amt")
    buying = withdrawable
    if orderable is not None and orderable.ord_psbl_cash.strip():
        buying = money(orderable.ord_psbl_cash, field="ord_psbl_cash")
    return CashBalance(
        account=account,
        deposit=deposit,
        as_of=as_of,
        orderable=buying,
        withdrawable=withdrawable,
    )


def quote_from(reply: PriceReply, symbol: str, as_of: datetime) -> Quote:
    output = reply.output
    if output is None or not output.stck_prpr.strip():
        raise PayloadError("price reply without stck_prpr")
    return Quote(symbol=symbol, price=money(output.stck_prpr, field="stck_prpr"), as_of=as_of)
