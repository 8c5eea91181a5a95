"""What an order request must satisfy before its intent is written (CLI, API and workflows alike).

KRX rules that need no vendor call: a symbol is a 6-digit code; a quantity is a whole number of
shares, positive and within the broker's per-order limit; a limit price is whole KRW, not
negative, and on a KRX tick. The tick depends on the instrument (stocks by price band, ETFs 5 won),
which this layer cannot know for every code: a price on neither grid is refused here, one on
either is left to the broker, whose refusal (with its code and message) makes the order
`rejected`.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from decimal import Decimal

from orchestrator.domain.errors import InvalidInput

SYMBOL = re.compile(r"[0-9]{6}")
# The widest order any supported broker takes in one request (KIS ORD_QTY is 10 digits wide;
# far below SQLite's 64-bit integers, which a bigger number would overflow).
DEFAULT_MAX_QUANTITY = 9_999_999_999
_STOCK_BOUNDS = (2_000, 5_000, 20_000, 50_000, 200_000, 500_000)
_STOCK_TICKS = (1, 5, 10, 50, 100, 500, 1_000)
_ETF_TICK = 5


def stock_tick(price: Decimal) -> int:
    return _STOCK_TICKS[bisect_right(_STOCK_BOUNDS, price)]


def check_order_input(
    *,
    symbol: str,
    quantity: int,
    limit_price: Decimal | None,
    max_quantity: int = DEFAULT_MAX_QUANTITY,
) -> None:
    """Raise InvalidInput naming the first wrong field; return None when the order may be sent."""
    if not SYMBOL.fullmatch(symbol):
        raise InvalidInput("symbol", f"{symbol!r} is not a 6-digit KRX code (e.g. 005930)")
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise InvalidInput("qty", "must be a whole number of shares")
    if quantity <= 0:
        raise InvalidInput("qty", f"must be positive, not {quantity}")
    if quantity > max_quantity:
        raise InvalidInput("qty", f"{quantity:,} exceeds the broker's limit of {max_quantity:,}")
    if limit_price is None:
        return
    if limit_price < 0:
        raise InvalidInput("price", f"must be 0 or more, not {limit_price}")
    if limit_price != limit_price.to_integral_value():
        raise InvalidInput("price", f"{limit_price} is not whole KRW")
    if limit_price == 0:
        raise InvalidInput("price", "0 is not a limit price; omit the price for a market order")
    tick = stock_tick(limit_price)
    if limit_price % tick and limit_price % _ETF_TICK:
        below = limit_price - limit_price % tick
        raise InvalidInput(
            "price",
            f"{limit_price:,} is not on the KRX tick ({tick:,} won at this price; "
            f"e.g. {below:,} or {below + tick:,})",
        )
