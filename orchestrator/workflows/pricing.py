"""KRX price ticks (호가단위), share lots and limit prices at an offset from the last quote.

Stocks use the unified KRX table in force since 2023-01-25 (spec kis-openapi §7.4):
<2,000: 1; <5,000: 5; <20,000: 10; <50,000: 50; <200,000: 100; <500,000: 500; else 1,000.
ETFs: we use a 5-won tick at every price. KRX lets ETFs below 2,000 trade on a 1-won grid, and a
multiple of 5 is on that grid too, so a 5-won price is always valid; it is simply coarser there.
Every band bound is a multiple of the next band's tick, so rounding down or up within a band
always lands on a valid price. The lot (share unit) of KRX stocks and ETFs is 1 share.
"""

from __future__ import annotations

from bisect import bisect_right
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Literal

from orchestrator.domain.model import Side

InstrumentKind = Literal["stock", "etf"]

_STOCK_BOUNDS = (2_000, 5_000, 20_000, 50_000, 200_000, 500_000)
_STOCK_TICKS = (1, 5, 10, 50, 100, 500, 1_000)
ETF_TICK = 5
BPS = Decimal(10_000)


def tick_size(price: Decimal, kind: InstrumentKind = "stock") -> Decimal:
    """The tick that applies at `price` (a band's lower bound belongs to that band)."""
    if kind == "etf":
        return Decimal(ETF_TICK)
    return Decimal(_STOCK_TICKS[bisect_right(_STOCK_BOUNDS, price)])


def on_tick(price: Decimal, kind: InstrumentKind = "stock") -> bool:
    return price > 0 and price % tick_size(price, kind) == 0


def floor_to_tick(price: Decimal, kind: InstrumentKind = "stock") -> Decimal:
    """The highest valid price at or below `price` (at least one tick)."""
    whole = price.to_integral_value(rounding=ROUND_FLOOR)
    floored = whole - whole % tick_size(whole, kind)
    return max(floored, tick_size(Decimal(1), kind))


def ceil_to_tick(price: Decimal, kind: InstrumentKind = "stock") -> Decimal:
    """The lowest valid price at or above `price`."""
    whole = max(price.to_integral_value(rounding=ROUND_CEILING), Decimal(1))
    tick = tick_size(whole, kind)
    return whole + (tick - whole % tick) % tick  # Decimal % keeps the dividend's sign


def limit_price(
    quote: Decimal, side: Side, offset_bps: int, kind: InstrumentKind = "stock"
) -> Decimal:
    """A limit `offset_bps` through the quote (above it to buy, below it to sell), on the grid.

    Rounded towards the quote, so the offset is never exceeded: a buy never pays more than
    quote × (1 + offset), a sell never asks less than quote × (1 - offset).
    """
    if side is Side.BUY:
        return floor_to_tick(quote * (1 + offset_bps / BPS), kind)
    return ceil_to_tick(quote * (1 - offset_bps / BPS), kind)


def floor_to_lot(quantity: Decimal | int, lot: int) -> int:
    """Whole lots at or below `quantity` (never negative)."""
    whole = int(Decimal(quantity).to_integral_value(rounding=ROUND_FLOOR))
    return max(0, whole - whole % lot)


def with_fee(price: Decimal, fee_bps: int) -> Decimal:
    """What one share costs a buyer at `price`, commission included."""
    return price * (1 + fee_bps / BPS)
