"""The KRX calendar: holidays from the package, session rules and config overrides."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.calendar import KrxCalendar
from orchestrator.domain.timeutil import KST


def kst(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=KST)


@pytest.fixture
def cal() -> KrxCalendar:
    return KrxCalendar()


def test_regular_day_trades_0900_to_1530(cal: KrxCalendar) -> None:
    assert cal.is_trading_day(date(2026, 6, 4))
    assert cal.session(date(2026, 6, 4)) == (kst(2026, 6, 4, 9), kst(2026, 6, 4, 15, 30))


@pytest.mark.parametrize(
    "day",
    [
        date(2026, 6, 3),  # local election day
        date(2026, 7, 17),  # Constitution Day (a holiday again from 2026)
        date(2026, 5, 1),  # Labor Day
        date(2026, 12, 31),  # year-end closure
        date(2026, 6, 6),  # Saturday
        date(2026, 6, 7),  # Sunday
    ],
)
def test_closed_days(cal: KrxCalendar, day: date) -> None:
    assert not cal.is_trading_day(day)
    assert cal.session(day) is None
    assert not cal.is_open(datetime.combine(day, time(11, 0), KST))


def test_first_trading_day_of_the_year_opens_at_ten(cal: KrxCalendar) -> None:
    assert cal.session(date(2026, 1, 2)) == (kst(2026, 1, 2, 10), kst(2026, 1, 2, 15, 30))
    assert not cal.is_open(kst(2026, 1, 2, 9, 30))
    assert cal.is_open(kst(2026, 1, 2, 10))
    # 2027: Jan 1 is a Friday holiday, so Monday Jan 4 is the first trading day.
    assert cal.session(date(2027, 1, 4)) == (kst(2027, 1, 4, 10), kst(2027, 1, 4, 15, 30))
    assert cal.session(date(2027, 1, 5)) == (kst(2027, 1, 5, 9), kst(2027, 1, 5, 15, 30))


def test_csat_day_shifts_the_session_by_an_hour(cal: KrxCalendar) -> None:
    assert cal.session(date(2026, 11, 19)) == (kst(2026, 11, 19, 10), kst(2026, 11, 19, 16, 30))
    assert cal.is_open(kst(2026, 11, 19, 16, 0))
    assert not cal.is_open(kst(2026, 11, 19, 9, 30))
    assert cal.session(date(2026, 11, 20)) == (kst(2026, 11, 20, 9), kst(2026, 11, 20, 15, 30))


def test_more_csat_days_can_be_given() -> None:
    cal = KrxCalendar(csat_days=[date(2027, 11, 18)])
    assert cal.session(date(2027, 11, 18)) == (kst(2027, 11, 18, 10), kst(2027, 11, 18, 16, 30))


def test_session_is_half_open(cal: KrxCalendar) -> None:
    assert not cal.is_open(kst(2026, 6, 4, 8, 59, 59))
    assert cal.is_open(kst(2026, 6, 4, 9))
    assert cal.is_open(kst(2026, 6, 4, 15, 29, 59))
    assert not cal.is_open(kst(2026, 6, 4, 15, 30))


def test_instants_in_other_zones_are_converted(cal: KrxCalendar) -> None:
    # 2026-06-04 01:00 UTC is 10:00 KST.
    assert cal.is_open(datetime(2026, 6, 4, 1, 0, tzinfo=UTC))
    with pytest.raises(ValueError):
        cal.is_open(datetime(2026, 6, 4, 10, 0))  # noqa: DTZ001 - naive on purpose


def test_extra_closures_override() -> None:
    cal = KrxCalendar(extra_closures=[date(2026, 6, 10)])
    assert not cal.is_trading_day(date(2026, 6, 10))
    assert cal.session(date(2026, 6, 10)) is None
    assert cal.next_trading_day(date(2026, 6, 9)) == date(2026, 6, 11)


def test_extra_open_days_override() -> None:
    cal = KrxCalendar(extra_open_days=[date(2026, 7, 17)])
    assert cal.is_trading_day(date(2026, 7, 17))
    assert cal.session(date(2026, 7, 17)) == (kst(2026, 7, 17, 9), kst(2026, 7, 17, 15, 30))


def test_a_day_cannot_be_both_closed_and_open() -> None:
    with pytest.raises(ValueError, match="2026-06-10"):
        KrxCalendar(extra_closures=[date(2026, 6, 10)], extra_open_days=[date(2026, 6, 10)])


def test_next_trading_day_skips_holidays_and_weekends(cal: KrxCalendar) -> None:
    assert cal.next_trading_day(date(2026, 6, 2)) == date(2026, 6, 4)
    assert cal.next_trading_day(date(2026, 7, 16)) == date(2026, 7, 20)
    assert cal.next_trading_day(date(2026, 12, 30)) == date(2027, 1, 4)
    assert cal.previous_trading_day(date(2026, 6, 4)) == date(2026, 6, 2)


def test_next_open(cal: KrxCalendar) -> None:
    assert cal.next_open(kst(2026, 6, 4, 10, 7)) == kst(2026, 6, 4, 10, 7)
    assert cal.next_open(kst(2026, 6, 4, 7)) == kst(2026, 6, 4, 9)
    assert cal.next_open(kst(2026, 6, 2, 15, 30)) == kst(2026, 6, 4, 9)  # election on the 3rd
    assert cal.next_open(kst(2026, 12, 30, 16)) == kst(2027, 1, 4, 10)
    assert cal.next_trading_day_start(kst(2026, 6, 3, 12)) == kst(2026, 6, 4)


@given(st.dates(min_value=date(2024, 1, 1), max_value=date(2027, 12, 31)))
def test_session_properties(day: date) -> None:
    cal = KrxCalendar()
    hours = cal.session(day)
    assert (hours is None) == (not cal.is_trading_day(day))
    if hours is not None:
        opens, closes = hours
        assert opens.date() == day == closes.date()
        assert closes - opens in (timedelta(hours=5, minutes=30), timedelta(hours=6, minutes=30))
        assert cal.is_open(opens)
        assert not cal.is_open(closes)
        assert not cal.is_open(opens - timedelta(seconds=1))
    nxt = cal.next_trading_day(day)
    assert nxt > day
    assert all(not cal.is_trading_day(day + timedelta(days=i)) for i in range(1, (nxt - day).days))
