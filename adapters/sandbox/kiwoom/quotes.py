"""Quotes on `/api/dostk/stkinfo`: ka10001 basic info, ka10095 multi-quote (digest §2.3).

Prices carry a direction sign against the base price (`-160400`: 160,400, down). Venue suffixes
`_NX`/`_AL` name NXT and SOR quotes (the sandbox quotes one price for every venue); mock knows
only KRX codes. ka10095 takes up to 100 codes joined by `|` (more: return_code 5 `[1634]`).
"""

from __future__ import annotations

from adapters.sandbox.kiwoom import errors
from adapters.sandbox.kiwoom.calls import Call, Reply, ok
from adapters.sandbox.kiwoom.state import KiwoomState
from adapters.sandbox.kiwoom.wire import rate, signed_price

MAX_CODES = 100


def _code(state: KiwoomState, raw: str) -> str:
    code, _, venue = raw.partition("_")
    if venue and (venue not in ("NX", "AL") or state.env == "mock"):
        raise errors.fail(errors.UNKNOWN_STOCK)
    if code not in state.prices:
        raise errors.fail(errors.UNKNOWN_STOCK)
    return code


def _quote(state: KiwoomState, raw: str, code: str) -> dict[str, object]:
    price, base = state.prices[code], state.bases[code]
    diff = price - base
    return {
        "stk_cd": raw,
        "stk_nm": state.names[code],
        "cur_prc": signed_price(price, base),
        "pred_pre": f"+{diff}" if diff > 0 else str(diff),
        "flu_rt": ("+" if diff > 0 else "") + rate(diff, base),
        "open_pric": signed_price(base, base),
        "high_pric": signed_price(max(price, base), base),
        "low_pric": signed_price(min(price, base), base),
        "base_pric": str(base),
        "upl_pric": signed_price(base * 13 // 10, base),
        "lst_pric": signed_price(base * 7 // 10, base),
        "trde_qty": "0",
    }


def basic_info(call: Call) -> Reply:
    raw = call.text("stk_cd")
    return Reply(ok(_quote(call.state, raw, _code(call.state, raw))))


def multi_quote(call: Call) -> Reply:
    if call.state.env == "mock":
        raise errors.fail(errors.MOCK_UNSUPPORTED)
    codes = [c.strip() for c in call.text("stk_cd").split("|") if c.strip()]
    if len(codes) > MAX_CODES:
        raise errors.fail(errors.BATCH_TOO_LARGE)
    rows = [_quote(call.state, raw, _code(call.state, raw)) for raw in codes]
    return Reply(ok({"atn_stk_infr": rows}))
