"""KRX ticks, lots and limit prices."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.domain.model import Side
from orchestrator.workflows.pricing import (
    ceil_to_tick,
    floor_to_lot,
    floor_to_tick,
    limit_price,
    on_tick,
    tick_size,
)

D = Decimal
prices = st.integers(min_value=1, max_value=3_000_000).map(Decimal)
kinds = st.sampled_from(["stock", "etf"])


@pytest.mark.parametrize(
    ("price", "tick"),
    [
        (1_999, 1),
        (2_000, 5),
        (4_995, 5),
        (5_000, 10),
        (19_990, 10),
        (20_000, 50),
        (49_950, 50),
        (50_000, 100),
        (199_900, 100),
        (200_000, 500),
        (499_500, 500),
        (500_000, 1_000),
    ],
)
def test_stock_tick_table(price: int, tick: int) -> None:
    """The unified KRX stock table; a band's lower bound belongs to that band."""
    assert tick_size(D(price)) == tick


def test_etfs_use_a_five_won_tick_at_every_price() -> None:
    """ETFs: 5 won everywhere (valid on KRX's finer 1-won grid below 2,000 too)."""
    assert {tick_size(D(p), "etf") for p in (1_500, 35_000, 600_000)} == {D(5)}


@given(prices, kinds)
def test_rounding_lands_on_the_grid_next_to_the_price(price: Decimal, kind: str) -> None:
    """floor/ceil give valid prices at most one tick from the input, on the right side."""
    down = floor_to_tick(price, kind)  # type: ignore[arg-type]
    up = ceil_to_tick(price, kind)  # type: ignore[arg-type]

    assert on_tick(up, kind)
    assert up >= price
    assert up - price < tick_size(up, kind)  # type: ignore[arg-type]
    if price >= tick_size(price, kind):  # type: ignore[arg-type]
        assert on_tick(down, kind)
        assert down <= price
        assert price - down < tick_size(price, kind)  # type: ignore[arg-type]


@given(prices, st.integers(min_value=0, max_value=500))
def test_limit_prices_never_exceed_the_offset(quote: Decimal, bps: int) -> None:
    """A buy limit is at most quote×(1+bps), a sell at least quote×(1−bps), both on a tick."""
    buy = limit_price(quote, Side.BUY, bps)
    sell = limit_price(quote, Side.SELL, bps)

    assert on_tick(buy)
    assert buy <= quote * (1 + D(bps) / 10_000)
    assert on_tick(sell)
    assert sell >= quote * (1 - D(bps) / 10_000)


def test_dca_limit_example() -> None:
    """71,000 + 20 bps = 71,142 rounds down to 71,100 (100-won tick)."""
    assert limit_price(D(71_000), Side.BUY, 20) == D(71_100)


def test_lots_round_down() -> None:
    """Quantities are whole lots, never negative."""
    assert floor_to_lot(D("17.9"), 5) == 15
    assert floor_to_lot(D(-3), 1) == 0
