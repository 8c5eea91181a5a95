"""Vendor shapes <-> domain values: the only module besides schemas.py that names Kiwoom fields.

Zero-padded signed strings ("-00000000196888") and signed quote prices ("-160400": a price of
160,400 after a down move) become Decimal/int here; `A`-prefixed codes lose their prefix; KST (the
wall clock of every Kiwoom date, time and expiry string) is applied here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

from adapters.http.krx import cancelled, kst_date, parse_kst, wire_int
from adapters.http.tokens import IssuedToken
from adapters.kiwoom.schemas import (
    BalanceRow,
    BuyingPowerReply,
    HistoryRow,
    OrderReply,
    PayloadError,
    QuoteReply,
    TokenReply,
)
from orchestrator.domain.model import (
    AccountRef,
    CashBalance,
    Direction,
    Institution,
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

# Kiwoom Securities' KFTC standard code; the core knows it only as a code.
INSTITUTION = Institution.named("264", "kiwoom")
JSON_CONTENT_TYPE = "application/json;charset=UTF-8"
TRDE_TP_LIMIT = "0"  # 보통 (limit)
TRDE_TP_MARKET = "3"  # 시장가
CANCEL_ALL = "0"  # cncl_qty "0" cancels the whole remainder
PRODUCT_PREFIXES = ("A", "J", "Q")  # stock, ELW, ETN


# --- plain values -----------------------------------------------------------------------------


def number(value: str, *, field: str = "amount") -> Decimal:
    """A Kiwoom number string ("000000000124500", "-00000000196888", "+160400", "46.25")."""
    text = value.strip().replace(",", "")
    return to_money(text or "0", field=field)


def price(value: str, *, field: str = "price") -> Decimal:
    """A quote price: the sign tells the direction of the move, not the price's sign."""
    return abs(number(value, field=field))


def quantity(value: str, *, field: str = "qty") -> int:
    amount = number(value, field=field)
    if amount != amount.to_integral_value():
        raise PayloadError(f"{field}: not a whole number of shares")
    return int(amount)


def symbol(stk_cd: str) -> str:
    """`A005930` -> `005930` (balances prefix the product class; venue suffixes dropped)."""
    code = stk_cd.strip().split("_", 1)[0]
    if len(code) == 7 and code[0] in PRODUCT_PREFIXES:
        code = code[1:]
    return code


def mask_account(number_: str) -> str:
    """Every digit but the last four hidden: "5012345611" -> "******5611"."""
    digits = number_.strip()
    return "*" * max(0, len(digits) - 4) + digits[-4:]


# --- requests ---------------------------------------------------------------------------------


def headers(
    api_id: str, token: str | None, cont_yn: str = "", next_key: str = ""
) -> dict[str, str]:
    out = {"content-type": JSON_CONTENT_TYPE, "api-id": api_id}
    if token is not None:
        out["authorization"] = f"Bearer {token}"
    if cont_yn:
        out["cont-yn"] = cont_yn
        out["next-key"] = next_key
    return out


def token_body(app_key: str, secret_key: str) -> dict[str, str]:
    return {"grant_type": "client_credentials", "appkey": app_key, "secretkey": secret_key}


def revoke_body(app_key: str, secret_key: str, token: str) -> dict[str, str]:
    return {"appkey": app_key, "secretkey": secret_key, "token": token}


def order_body(intent: OrderIntent, venue: str) -> dict[str, str]:
    """kt10000/kt10001: limit `0` at the limit price, market `3` with an empty `ord_uv`."""
    market = intent.order_type is OrderType.MARKET
    if not market and intent.limit_price is None:
        raise ValueError("a limit order needs a limit price")
    return {
        "dmst_stex_tp": venue,
        "stk_cd": intent.symbol,
        "ord_qty": wire_int(intent.quantity),
        "ord_uv": "" if market or intent.limit_price is None else wire_int(intent.limit_price),
        "trde_tp": TRDE_TP_MARKET if market else TRDE_TP_LIMIT,
        "cond_uv": "",
    }


def cancel_body(order: OrderReport, venue: str) -> dict[str, str]:
    return {
        "dmst_stex_tp": venue,
        "orig_ord_no": order.order_id,
        "stk_cd": order.symbol,
        "cncl_qty": CANCEL_ALL,
    }


def balance_body(venue: str) -> dict[str, str]:
    return {"qry_tp": "1", "dmst_stex_tp": "KRX" if venue == "SOR" else venue}


def buying_power_body(probe_symbol: str) -> dict[str, str]:
    # The cash figures read (entr, ord_alowa, wthd_alowa) do not depend on the probe order.
    return {"stk_cd": probe_symbol, "trde_tp": "2", "uv": "0"}


def history_body(day: date) -> dict[str, str]:
    """kt00007: every order of the day, ascending, cancels and modifications included."""
    return {
        "qry_tp": "1",
        "stk_bond_tp": "0",
        "sell_tp": "0",
        "dmst_stex_tp": "%",
        "ord_dt": day.strftime("%Y%m%d"),
        "stk_cd": "",
        "fr_ord_no": "",
    }


def open_orders_body() -> dict[str, str]:
    return {"all_stk_tp": "0", "trde_tp": "0", "stex_tp": "0", "stk_cd": ""}


# --- replies ----------------------------------------------------------------------------------


def token_from(reply: TokenReply) -> IssuedToken:
    """`token` + `expires_dt` (YYYYMMDDHHMMSS, KST); PayloadError when either is missing."""
    value, stamp = reply.token.strip(), reply.expires_dt.strip()
    if not value or len(stamp) != 14:
        raise PayloadError("token reply without token or expires_dt")
    expires = parse_kst(stamp[:8], stamp[8:])
    if expires is None:
        raise PayloadError("expires_dt unreadable")
    return IssuedToken(value, expires)


def report_from_order(reply: OrderReply, intent: OrderIntent, now: datetime) -> OrderReport:
    if not reply.ord_no.strip():
        raise PayloadError("order accepted without ord_no")
    return OrderReport(
        order_id=reply.ord_no.strip(),
        account=intent.account,
        symbol=intent.symbol,
        side=intent.side,
        quantity=intent.quantity,
        state=OrderState.ACCEPTED,
        placed_at=now,
        order_type=intent.order_type,
        limit_price=intent.limit_price,
    )


def side_of(io_tp_nm: str) -> Side:
    if "매수" in io_tp_nm:
        return Side.BUY
    if "매도" in io_tp_nm:
        return Side.SELL
    raise PayloadError(f"order side unreadable: {io_tp_nm!r}")


def _is_cancel(row: HistoryRow) -> bool:
    return "취소" in row.mdfy_cncl or "취소" in row.io_tp_nm


def reports_from_history(
    rows: Sequence[tuple[str, HistoryRow]], account: AccountRef
) -> list[OrderReport]:
    """Orders from kt00007 rows (each with its `ord_dt`), oldest first. A cancel is a row of
    its own (new `ord_no`, `ori_ord` -> original): it marks the original cancelled."""
    reports: dict[tuple[str, str], OrderReport] = {}
    cancels: list[tuple[str, str]] = []
    for day, row in rows:
        if _is_cancel(row):
            cancels.append((day, row.ori_ord.strip()))
            continue
        placed = parse_kst(day, row.ord_tm)
        if placed is None:
            raise PayloadError("order row without a readable date/time")
        qty = quantity(row.ord_qty)
        filled = quantity(row.cntr_qty)
        limit = number(row.ord_uv)
        state = OrderState.ACCEPTED
        if filled >= qty:
            state = OrderState.FILLED
        elif filled:
            state = OrderState.PARTIALLY_FILLED
        reports[(day, row.ord_no.strip())] = OrderReport(
            order_id=row.ord_no.strip(),
            account=account,
            symbol=symbol(row.stk_cd),
            side=side_of(row.io_tp_nm),
            quantity=qty,
            state=state,
            placed_at=placed,
            order_type=OrderType.MARKET if limit == ZERO else OrderType.LIMIT,
            limit_price=None if limit == ZERO else limit,
            filled_quantity=filled,
            avg_fill_price=number(row.cntr_uv) if filled else None,
        )
    for key in cancels:
        found = reports.get(key)
        if found is not None:
            reports[key] = cancelled(found)
    return sorted(reports.values(), key=lambda r: (r.placed_at, r.order_id))


def cash_from(reply: BuyingPowerReply, account: AccountRef, now: datetime) -> CashBalance:
    """Deposit = 예수금 `entr`; orderable = `ord_alowa`; withdrawable = `wthd_alowa`."""
    return CashBalance(
        account=account,
        deposit=number(reply.entr, field="entr"),
        orderable=number(reply.ord_alowa, field="ord_alowa"),
        withdrawable=number(reply.wthd_alowa, field="wthd_alowa"),
        as_of=now,
    )


def positions_from(
    rows: Sequence[BalanceRow], account: AccountRef, now: datetime
) -> list[Position]:
    merged: dict[str, Position] = {}
    for row in rows:
        qty = quantity(row.rmnd_qty, field="rmnd_qty")
        if qty <= 0:
            continue
        code = symbol(row.stk_cd)
        avg = number(row.pur_pric, field="pur_pric")
        last = price(row.cur_prc, field="cur_prc")
        seen = merged.get(code)
        if seen is not None:
            total = seen.quantity + qty
            avg = (seen.avg_price * seen.quantity + avg * qty) / total
            qty = total
        merged[code] = Position(
            account=account,
            symbol=code,
            quantity=qty,
            avg_price=avg,
            as_of=now,
            name=row.stk_nm.strip(),
            last_price=last,
        )
    return [merged[code] for code in sorted(merged)]


def transactions_from(reports: Sequence[OrderReport], account: AccountRef) -> list[Transaction]:
    """One gross cash move per order with fills (buy: out, sell: in), fees excluded."""
    moves: list[Transaction] = []
    for report in reports:
        if not report.filled_quantity or report.avg_fill_price is None:
            continue
        moves.append(
            Transaction(
                account=account,
                tx_id=f"fill:{kst_date(report.placed_at)}:{report.order_id}",
                occurred_at=report.placed_at,
                direction=Direction.OUT if report.side is Side.BUY else Direction.IN,
                amount=report.avg_fill_price * report.filled_quantity,
                description=f"{report.side} {report.symbol} x{report.filled_quantity}",
            )
        )
    return moves


def quote_from(reply: QuoteReply, wanted: str, now: datetime) -> Quote:
    if not reply.cur_prc.strip():
        raise PayloadError("quote without cur_prc")
    return Quote(
        symbol=wanted,
        price=price(reply.cur_prc, field="cur_prc"),
        as_of=now,
        name=reply.stk_nm.strip(),
    )
