"""KRX tick sizes (호가단위) and daily price limits (spec §7.4, §7.3).

Stocks use the unified KRX table in force since 2023-01-25. ETFs trade on a finer grid; the
spec only says "smaller", so the KRX ETF rule (1 won below 2,000, 5 won from 2,000) is used.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from decimal import Decimal
from typing import Literal

SymbolKind = Literal["stock", "etf"]

_STOCK_BOUNDS = (2_000, 5_000, 20_000, 50_000, 200_000, 500_000)
_STOCK_TICKS = (1, 5, 10, 50, 100, 500, 1_000)
_ETF_BOUNDS = (2_000,)
_ETF_TICKS = (1, 5)

LIMIT_RATE = Decimal("0.30")


def tick_size(price: int, kind: SymbolKind = "stock") -> int:
    """The tick that applies at `price` (the band's lower bound belongs to the band)."""
    if kind == "etf":
        return _ETF_TICKS[bisect_right(_ETF_BOUNDS, price)]
    return _STOCK_TICKS[bisect_right(_STOCK_BOUNDS, price)]


def on_tick(price: int, kind: SymbolKind = "stock") -> bool:
    return price > 0 and price % tick_size(price, kind) == 0


def floor_to_tick(price: int, kind: SymbolKind = "stock") -> int:
    return price - price % tick_size(price, kind)


def ceil_to_tick(price: int, kind: SymbolKind = "stock") -> int:
    # Band bounds are multiples of the next band's tick, so one step up always lands on the grid.
    return price + (-price) % tick_size(price, kind)


def nearest_tick(price: int, kind: SymbolKind = "stock") -> int:
    down, up = floor_to_tick(price, kind), ceil_to_tick(price, kind)
    return down if price - down < up - price else up


def tick_up(price: int, kind: SymbolKind = "stock") -> int:
    return price + tick_size(price, kind)


def tick_down(price: int, kind: SymbolKind = "stock") -> int:
    # Below a band boundary the finer tick of the lower band applies (2,000 -> 1,999).
    return max(1, price - tick_size(price - 1, kind))


def price_limits(prev_close: int, kind: SymbolKind = "stock") -> tuple[int, int]:
    """Upper and lower limit (상한가/하한가): ±30 % of the previous close, kept on the grid."""
    upper = math.floor(prev_close * (1 + LIMIT_RATE))
    lower = math.ceil(prev_close * (1 - LIMIT_RATE))
    return floor_to_tick(upper, kind), ceil_to_tick(max(lower, 1), kind)
