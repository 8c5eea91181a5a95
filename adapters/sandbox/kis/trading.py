"""order-cash and order-rvsecncl: the checks a KIS order passes before it is booked (spec §4.1,
§4.2, §6 order rejects, §7.3 hours, §7.4 ticks).

Checks run in this order: fields, account, symbol, division and venue, session hours,
price (tick grid and daily limits), then buying power or sellable quantity. A booked order
meets the market at once, so a marketable order is (partly) filled before the reply.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from adapters.sandbox.kis import errors
from adapters.sandbox.kis.broker import Broker
from adapters.sandbox.kis.divisions import DIVISIONS, PAPER_DIVISIONS, VENUE_DIVISIONS, Division
from adapters.sandbox.kis.errors import KisFailure
from adapters.sandbox.kis.hours import accept_phase, window_for
from adapters.sandbox.kis.ledger import BUY, Account, Side
from adapters.sandbox.kis.orders import Order, OrderKind
from adapters.sandbox.kis.params import Params
from adapters.sandbox.kis.prices import step_of
from adapters.sandbox.kis.ticks import on_tick, tick_down, tick_up
from adapters.sandbox.kis.wire import kst_time

ORDER_SENT = ("APBK0013", "주문 전송 완료 되었습니다.")
PAPER_BUY_SENT = ("40600000", "모의투자 매수주문이 완료 되었습니다.")
PAPER_SELL_SENT = ("40590000", "모의투자 매도주문이 완료 되었습니다.")
PAPER_MODIFY_SENT = ("40620000", "모의투자 정정주문이 완료 되었습니다.")
PAPER_CANCEL_SENT = ("40630000", "모의투자 취소주문이 완료 되었습니다.")
_SINGLE_PRICE_BAND_PCT = 10  # 시간외 단일가 trades within ±10 % of the close


@dataclass(frozen=True, slots=True)
class Booked:
    """A booked order: the `output` object and the success message for the reply."""

    output: dict[str, str]
    msg_cd: str
    msg1: str


def reject(broker: Broker, failure: tuple[str, str]) -> KisFailure:
    """An order rejection; paper words every message with a "모의투자 " prefix."""
    code, message = failure
    if broker.env == "paper" and not message.startswith("모의투자"):
        message = f"모의투자 {message}"
    return errors.business(code, message)


def _check_division(broker: Broker, code: str, venue: str) -> Division:
    division = DIVISIONS.get(code)
    if division is None:
        raise errors.invalid_input("ORD_DVSN")
    if venue not in VENUE_DIVISIONS:
        raise errors.invalid_input("EXCG_ID_DVSN_CD")
    if broker.env == "paper" and (venue != "KRX" or code not in PAPER_DIVISIONS):
        raise reject(broker, errors.PAPER_UNSUPPORTED)
    if code not in VENUE_DIVISIONS[venue]:
        raise errors.invalid_input("ORD_DVSN")
    return division


def _check_session(broker: Broker, division: Division, now: datetime) -> None:
    window = window_for(division.window, broker.env)
    phase = accept_phase(now, window, broker.clock.session, broker.calendar)
    if phase == "open":
        return
    if broker.env == "paper":
        raise reject(
            broker, errors.PAPER_BEFORE_OPEN if phase == "before" else errors.PAPER_AFTER_CLOSE
        )
    raise reject(broker, errors.OUTSIDE_HOURS)


def _price(
    broker: Broker,
    pdno: str,
    side: Side,
    division: Division,
    unit: int,
    trigger: int,
    now: datetime,
) -> tuple[int | None, int]:
    """The order's effective limit (None for market-priced) and the price buys reserve cash at."""
    mode = broker.clock.session
    kind = broker.prices.symbols[pdno].kind
    day = broker.prices.quote_day(now, mode)
    upper, lower = broker.prices.limits(pdno, day)
    if division.needs_price:
        if not on_tick(unit, kind):
            raise reject(broker, errors.OFF_TICK)
        if not lower <= unit <= upper:
            raise errors.invalid_input("ORD_UNPR")
    if division.pricing == "stop" and not on_tick(trigger, kind):
        raise errors.invalid_input("CNDT_PRIC")
    if division.pricing == "single":
        close = broker.prices.close(pdno, day)
        if abs(unit - close) * 100 > close * _SINGLE_PRICE_BAND_PCT:
            raise errors.invalid_input("ORD_UNPR")
    current = broker.prices.price(pdno, now, mode)
    limit: int | None
    if division.needs_price:
        limit = unit
    elif division.pricing in ("best", "mid"):
        limit = current
    elif division.pricing == "priority":
        # 최우선: joins the best price on its own side, one tick away from the last trade.
        limit = tick_down(current, kind) if side == BUY else tick_up(current, kind)
        limit = min(max(limit, lower), upper)
    else:
        limit = None
    # Market-priced buys hold cash at the upper limit (spec §4.1 overview).
    return limit, limit if limit is not None else upper


def _check_buying_power(broker: Broker, account: Account, amount: int) -> None:
    if broker.fees.buy_cost(amount) > broker.orderable_cash(account):
        raise reject(broker, errors.NO_CASH)


def _check_sellable(broker: Broker, account: Account, pdno: str, qty: int) -> None:
    sellable = broker.sellable(account, pdno)
    if qty <= sellable:
        return
    if broker.env == "paper" and sellable == 0:
        raise reject(broker, errors.PAPER_NO_HOLDING)
    raise reject(broker, errors.NO_SELLABLE_QTY)


def _book(broker: Broker, account: Account, order: Order) -> None:
    broker.book.add(order)
    account.orders_version += 1
    # The acknowledgement goes out before the fills the order meets at once.
    broker.notices.acknowledged(order, order.placed_at)
    broker.matcher.run(order, account, step_of(order.placed_at), broker.clock.session)


def place_cash_order(broker: Broker, appkey: str, body: Params, side: Side) -> Booked:
    """POST trading/order-cash, buy or sell as the TR id says."""
    account = broker.account(appkey, body.text("CANO"), body.text("ACNT_PRDT_CD"))
    pdno = body.text("PDNO")
    code = body.text("ORD_DVSN")
    qty = body.number("ORD_QTY")
    unit = body.number("ORD_UNPR")
    body.text("SLL_TYPE", required=False, choices=("", "01", "02", "05"))
    trigger = body.number("CNDT_PRIC", required=False)
    venue = body.text("EXCG_ID_DVSN_CD", required=False) or "KRX"
    if qty <= 0:
        raise errors.invalid_input("ORD_QTY")
    if pdno not in broker.prices.symbols:
        raise reject(broker, errors.NO_SYMBOL)
    division = _check_division(broker, code, venue)
    now = broker.now()
    _check_session(broker, division, now)
    limit, reserve = _price(broker, pdno, side, division, unit, trigger, now)
    if side == BUY:
        _check_buying_power(broker, account, qty * reserve)
    else:
        _check_sellable(broker, account, pdno, qty)
    order = Order(
        odno=broker.book.next_odno(),
        orgno=broker.book.branch,
        account=account.number,
        pdno=pdno,
        side=side,
        division=division,
        qty=qty,
        unit_price=unit,
        trigger_price=trigger,
        venue=venue,
        placed_at=now,
        limit=limit,
        reserve_price=reserve if side == BUY else 0,
        triggered=division.pricing != "stop",
        cursor=step_of(now),
    )
    _book(broker, account, order)
    if broker.env == "real":
        code_, message = ORDER_SENT
    else:
        code_, message = PAPER_BUY_SENT if side == BUY else PAPER_SELL_SENT
    return Booked(_reply(order, now), code_, message)


def amend_order(broker: Broker, appkey: str, body: Params) -> Booked:
    """POST trading/order-rvsecncl: modify (01) or cancel (02) what is left of an order."""
    account = broker.account(appkey, body.text("CANO"), body.text("ACNT_PRDT_CD"))
    orgno = body.text("KRX_FWDG_ORD_ORGNO").strip()
    original = broker.book.find(body.text("ORGN_ODNO").strip())
    code = body.text("ORD_DVSN")
    action = body.text("RVSE_CNCL_DVSN_CD", choices=("01", "02"))
    qty = body.number("ORD_QTY")
    unit = body.number("ORD_UNPR")
    all_remaining = body.text("QTY_ALL_ORD_YN", choices=("Y", "N")) == "Y"
    trigger = body.number("CNDT_PRIC", required=False)
    venue = body.text("EXCG_ID_DVSN_CD", required=False)
    if original is None or original.account != account.number or original.kind == "cancel":
        raise errors.invalid_input("ORGN_ODNO")
    # Blank is accepted, as the real API does (spec §4.2: KIS's own backtester and several
    # maintained clients cancel with ""); a wrong non-blank branch is still refused.
    if orgno and orgno != original.orgno:
        raise errors.invalid_input("KRX_FWDG_ORD_ORGNO")
    if venue and venue not in VENUE_DIVISIONS:
        raise errors.invalid_input("EXCG_ID_DVSN_CD")
    if broker.env == "paper" and venue not in ("", "KRX"):
        # Paper is KRX only for modify/cancel too (spec §4.2), as for new orders (§4.1).
        raise reject(broker, errors.PAPER_UNSUPPORTED)
    now = broker.now()
    _check_session(broker, original.division, now)
    amount = original.open_qty if all_remaining else qty
    if not 0 < amount <= original.open_qty:
        raise reject(broker, errors.NOTHING_TO_AMEND)
    if action == "02":
        record = _cancel(broker, account, original, amount, now)
        success = PAPER_CANCEL_SENT
    else:
        division = _check_division(broker, code, venue or original.venue)
        _check_session(broker, division, now)
        record = _modify(broker, account, original, amount, division, unit, trigger, now)
        success = PAPER_MODIFY_SENT
    if original.remaining == 0:
        original.live = False
    code_, message = ORDER_SENT if broker.env == "real" else success
    return Booked(_reply(record, now), code_, message)


def _cancel(broker: Broker, account: Account, original: Order, qty: int, now: datetime) -> Order:
    record = _derived(broker, original, "cancel", qty, original.division, now)
    record.live = False
    record.cancelled_qty = qty
    original.cancelled_qty += qty
    broker.book.add(record)
    account.orders_version += 1
    broker.notices.acknowledged(record, now)
    return record


def _modify(
    broker: Broker,
    account: Account,
    original: Order,
    qty: int,
    division: Division,
    unit: int,
    trigger: int,
    now: datetime,
) -> Order:
    limit, reserve = _price(broker, original.pdno, original.side, division, unit, trigger, now)
    if original.is_buy:
        # Only the extra cash a higher price holds back has to be available.
        held = broker.fees.buy_cost(qty * original.reserve_price)
        if broker.fees.buy_cost(qty * reserve) - held > broker.orderable_cash(account):
            raise reject(broker, errors.NO_CASH)
    record = _derived(broker, original, "modify", qty, division, now)
    record.unit_price, record.trigger_price = unit, trigger
    record.limit, record.reserve_price = limit, reserve if original.is_buy else 0
    record.triggered = division.pricing != "stop"
    original.moved_qty += qty
    _book(broker, account, record)
    return record


def _derived(
    broker: Broker, original: Order, kind: OrderKind, qty: int, division: Division, now: datetime
) -> Order:
    """A modify or cancel record: a new ODNO pointing back at the original order."""
    return Order(
        odno=broker.book.next_odno(),
        orgno=original.orgno,
        account=original.account,
        pdno=original.pdno,
        side=original.side,
        division=division,
        qty=qty,
        unit_price=original.unit_price,
        trigger_price=original.trigger_price,
        venue=original.venue,
        placed_at=now,
        kind=kind,
        orgn_odno=original.odno,
        limit=original.limit,
        reserve_price=original.reserve_price,
        cursor=step_of(now),
    )


def _reply(order: Order, now: datetime) -> dict[str, str]:
    return {"KRX_FWDG_ORD_ORGNO": order.orgno, "ODNO": order.odno, "ORD_TMD": kst_time(now)}
