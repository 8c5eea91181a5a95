"""Tick sizes, daily limits and the deterministic price path (spec §7.3, §7.4)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from adapters.sandbox.kis.clock import KST
from adapters.sandbox.kis.hours import TradingCalendar
from adapters.sandbox.kis.prices import PriceBook
from adapters.sandbox.kis.seed import load_seed
from adapters.sandbox.kis.ticks import on_tick, price_limits, tick_down, tick_size


@pytest.mark.parametrize(
    ("price", "tick"),
    [
        (1999, 1),
        (2000, 5),
        (4995, 5),
        (5000, 10),
        (19990, 10),
        (20000, 50),
        (49950, 50),
        (50000, 100),
        (199900, 100),
        (200000, 500),
        (499500, 500),
        (500000, 1000),
    ],
)
def test_stock_tick_table(price: int, tick: int) -> None:
    """Each band of the unified KRX table starts at its lower bound."""
    assert tick_size(price) == tick


def test_etf_ticks_are_finer() -> None:
    """ETFs tick 1 won below 2,000 and 5 won from 2,000."""
    assert (tick_size(1999, "etf"), tick_size(35000, "etf")) == (1, 5)


def test_stepping_down_across_a_band_uses_the_lower_tick() -> None:
    """One tick below 2,000 is 1,999, not 1,995."""
    assert tick_down(2000) == 1999


def test_daily_limits_are_thirty_percent_on_the_grid() -> None:
    """상한가/하한가 are ±30 % of the previous close, rounded inward to the tick."""
    assert price_limits(72300) == (93900, 50700)


def book(seed: int = 20260312) -> PriceBook:
    data = load_seed()
    return PriceBook(seed, data.symbols, TradingCalendar())


def test_path_is_a_pure_function_of_seed_symbol_and_time() -> None:
    """Two books with one seed agree everywhere; another seed differs."""
    times = [datetime(2026, 3, 12, 9, 0, tzinfo=KST) + timedelta(minutes=7 * i) for i in range(50)]

    one, same, other_seed = book(), book(), book(1)

    first = [one.price("005930", t) for t in times]
    second = [same.price("005930", t) for t in times]
    other = [other_seed.price("005930", t) for t in times]

    assert first == second
    assert first != other


def test_every_price_is_on_the_grid_and_inside_the_limits() -> None:
    """Over a whole session each symbol's price sits on its tick grid within ±30 %."""
    prices = book()
    day = datetime(2026, 3, 12, 9, 0, tzinfo=KST)
    for pdno, symbol in prices.symbols.items():
        upper, lower = prices.limits(pdno, day.date())
        for minute in range(0, 390, 3):
            price = prices.price(pdno, day + timedelta(minutes=minute))
            assert on_tick(price, symbol.kind), (pdno, price)
            assert lower <= price <= upper


def test_price_moves_during_the_session_and_stands_still_outside() -> None:
    """The path moves between 09:00 and 15:30 and stays at the close after it."""
    prices = book()
    session = [
        prices.price("005930", datetime(2026, 3, 12, 9, 0, tzinfo=KST) + timedelta(minutes=m))
        for m in range(0, 390, 10)
    ]
    evening = {
        prices.price("005930", datetime(2026, 3, 12, h, 0, tzinfo=KST)) for h in (16, 20, 23)
    }
    saturday = prices.price("005930", datetime(2026, 3, 14, 11, 0, tzinfo=KST))

    assert len(set(session)) > 5
    assert evening == {prices.close("005930", date(2026, 3, 12))}
    assert saturday == prices.close("005930", date(2026, 3, 13))


def test_previous_close_is_yesterdays_close() -> None:
    """stck_sdpr on Monday is Friday's 15:30 price."""
    prices = book()

    assert prices.prev_close("005930", date(2026, 3, 16)) == prices.price(
        "005930", datetime(2026, 3, 13, 15, 30, tzinfo=KST)
    )
