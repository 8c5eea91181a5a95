"""Orders on `/api/dostk/ordr`: kt10000 buy, kt10001 sell, kt10002 modify, kt10003 cancel.

`trde_tp` codes are the digest's (§2.3). The sandbox matches `3` (market) at the current price at
once; every other type rests at `ord_uv` until the price reaches it; the IOC (`10`/`13`/`16`) and
FOK (`20`/`23`/`26`) variants cancel what did not fill at once. No fees or taxes are charged.
"""

from __future__ import annotations

from adapters.sandbox.kiwoom import errors
from adapters.sandbox.kiwoom.calls import Call, Reply, ok
from adapters.sandbox.kiwoom.state import Order, Side

TRDE_TP = (
    "0", "3", "5", "6", "7", "10", "13", "16", "20", "23", "26",
    "61", "81", "62", "28", "29", "30", "31",
)  # fmt: skip
MARKET = "3"
IOC_FOK = ("10", "13", "16", "20", "23", "26")
EXCHANGES = ("KRX", "NXT", "SOR")


def _exchange(call: Call) -> str:
    exchange = call.text("dmst_stex_tp")
    if exchange not in EXCHANGES:
        raise errors.fail(errors.UNKNOWN_MARKET)
    if call.state.env == "mock" and exchange != "KRX":
        raise errors.fail(errors.MOCK_UNSUPPORTED)  # digest §2.6: mock is KRX only
    return exchange


def _stock(call: Call) -> str:
    code = call.text("stk_cd")
    if code not in call.state.prices:
        raise errors.fail(errors.UNKNOWN_STOCK)
    return code


def place(call: Call, side: Side) -> Reply:
    state = call.state
    exchange = _exchange(call)
    code = _stock(call)
    qty = call.number("ord_qty", positive=True)
    trde_tp = call.choice("trde_tp", TRDE_TP)
    market = trde_tp == MARKET
    price = call.number("ord_uv", required=not market)
    if market and price:
        raise errors.fail(errors.BAD_INPUT)
    account = call.account
    if side == "buy":
        needed = qty * (price or state.prices[code])
        if needed > account.cash - state.reserved_cash(account.number):
            raise errors.fail(errors.NOT_ENOUGH_CASH)
    else:
        held = account.holdings.get(code)
        free = (held.quantity if held else 0) - state.reserved_shares(account.number, code)
        if qty > free:
            raise errors.fail(errors.NOT_ENOUGH_SHARES)
    order = Order(
        ord_no=state.new_ord_no(),
        account=account.number,
        stk_cd=code,
        side=side,
        qty=qty,
        price=price,
        trde_tp=trde_tp,
        placed_at=state.now(),
        exchange=exchange,
    )
    state.orders.append(order)
    state.match()
    if trde_tp in IOC_FOK and order.open_qty:
        order.cancelled += order.open_qty
    word = "매수" if side == "buy" else "매도"
    return Reply(
        ok({"ord_no": order.ord_no, "dmst_stex_tp": exchange}, f"{word}주문이 완료되었습니다"),
        booked=True,
    )


def _original(call: Call) -> Order:
    code = _stock(call)
    orig = call.state.order(call.text("orig_ord_no").rjust(7, "0"), call.account.number)
    if orig is None or orig.stk_cd != code:
        raise errors.fail(errors.NO_ORIGINAL_ORDER)
    return orig


def cancel(call: Call) -> Reply:
    state = call.state
    exchange = _exchange(call)
    orig = _original(call)
    wanted = call.number("cncl_qty")
    if orig.open_qty <= 0:
        raise errors.fail(errors.NOTHING_TO_CANCEL)
    qty = orig.open_qty if wanted == 0 else min(wanted, orig.open_qty)
    orig.cancelled += qty
    record = Order(
        ord_no=state.new_ord_no(),
        account=orig.account,
        stk_cd=orig.stk_cd,
        side=orig.side,
        qty=qty,
        price=0,
        trde_tp=orig.trde_tp,
        placed_at=state.now(),
        exchange=exchange,
        kind="cancel",
        orig_ord_no=orig.ord_no,
        cancelled=qty,
    )
    state.orders.append(record)
    body = {
        "ord_no": record.ord_no,
        "base_orig_ord_no": orig.ord_no,
        "cncl_qty": str(qty),
        "dmst_stex_tp": exchange,
    }
    return Reply(ok(body, "취소주문이 완료되었습니다"), booked=True)


def modify(call: Call) -> Reply:
    state = call.state
    exchange = _exchange(call)
    orig = _original(call)
    qty = call.number("mdfy_qty", positive=True)
    price = call.number("mdfy_uv", positive=True)
    if orig.open_qty <= 0:
        raise errors.fail(errors.NOTHING_TO_CANCEL)
    qty = min(qty, orig.open_qty)
    orig.cancelled += qty
    record = Order(
        ord_no=state.new_ord_no(),
        account=orig.account,
        stk_cd=orig.stk_cd,
        side=orig.side,
        qty=qty,
        price=price,
        trde_tp=orig.trde_tp,
        placed_at=state.now(),
        exchange=exchange,
        kind="modify",
        orig_ord_no=orig.ord_no,
    )
    state.orders.append(record)
    state.match()
    body = {
        "ord_no": record.ord_no,
        "base_orig_ord_no": orig.ord_no,
        "mdfy_qty": str(qty),
        "dmst_stex_tp": exchange,
    }
    return Reply(ok(body, "정정주문이 완료되었습니다"), booked=True)


def buy(call: Call) -> Reply:
    return place(call, "buy")


def sell(call: Call) -> Reply:
    return place(call, "sell")
