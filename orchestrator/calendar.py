"""The KRX trading calendar: which days trade, and when the regular session opens and closes.

Closures come from `holidays.financial_holidays("XKRX")` (public holidays, election days, the
year-end closure) plus the configured `extra_closures` (closures announced at short notice);
`extra_open_days` wins over both (a closure the package has wrong). Session rules encoded here,
because no package models them correctly:

- regular session 09:00-15:30 KST;
- the first trading day of the year opens an hour late (10:00-15:30);
- on the CSAT (college entrance exam) day the whole session shifts by an hour (10:00-16:30);
- the last weekday of December is closed (year-end closure; the package has it too).

A session is the half-open interval [open, close): at 15:30:00 sharp the market counts as closed.
Dates are KST calendar dates; instants may be given in any timezone (aware only).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any

import holidays

from orchestrator.domain.timeutil import KST

REGULAR_OPEN = time(9, 0)
REGULAR_CLOSE = time(15, 30)
LATE_OPEN = time(10, 0)
CSAT_CLOSE = time(16, 30)

# CSAT (대학수학능력시험) days: KRX opens at 10:00 and closes at 16:30. Announced each year by the
# Ministry of Education; add later years through the `csat_days` argument until they land here.
CSAT_DAYS: frozenset[date] = frozenset(
    {
        date(2020, 12, 3),
        date(2021, 11, 18),
        date(2022, 11, 17),
        date(2023, 11, 16),
        date(2024, 11, 14),
        date(2025, 11, 13),
        date(2026, 11, 19),
    }
)

_SEARCH_LIMIT_DAYS = 800  # far beyond any real run of closed days: a bug guard, not a rule


class KrxCalendar:
    """Trading days and session times of the KRX regular market (KOSPI/KOSDAQ)."""

    def __init__(
        self,
        extra_closures: Iterable[date] = (),
        extra_open_days: Iterable[date] = (),
        *,
        csat_days: Iterable[date] = (),
    ) -> None:
        self._closures = frozenset(extra_closures)
        self._open_days = frozenset(extra_open_days)
        clash = self._closures & self._open_days
        if clash:
            days = ", ".join(sorted(d.isoformat() for d in clash))
            raise ValueError(f"dates both closed and open in the calendar overrides: {days}")
        self._csat = CSAT_DAYS | frozenset(csat_days)
        self._holidays: Any = holidays.financial_holidays("XKRX")

    # -- days ------------------------------------------------------------------------------

    def is_trading_day(self, day: date) -> bool:
        """True when the regular market trades on `day` (a KST date)."""
        if day in self._open_days:
            return True
        if day in self._closures or day.weekday() >= 5:
            return False
        if day in self._holidays:
            return False
        return day != _year_end_closure(day.year)

    def next_trading_day(self, day: date) -> date:
        """The first trading day strictly after `day`."""
        for offset in range(1, _SEARCH_LIMIT_DAYS):
            candidate = day + timedelta(days=offset)
            if self.is_trading_day(candidate):
                return candidate
        raise ValueError(f"no trading day within {_SEARCH_LIMIT_DAYS} days after {day}")

    def previous_trading_day(self, day: date) -> date:
        """The last trading day strictly before `day`."""
        for offset in range(1, _SEARCH_LIMIT_DAYS):
            candidate = day - timedelta(days=offset)
            if self.is_trading_day(candidate):
                return candidate
        raise ValueError(f"no trading day within {_SEARCH_LIMIT_DAYS} days before {day}")

    def trading_day_of_month(self, at: datetime) -> int | None:
        """1 on the month's first KRX trading day (of `at` in KST), ...; None on a closed day."""
        day = _kst(at).date()
        if not self.is_trading_day(day):
            return None
        return sum(1 for d in range(1, day.day + 1) if self.is_trading_day(day.replace(day=d)))

    def is_first_trading_day_of_year(self, day: date) -> bool:
        return self.is_trading_day(day) and (day.year != self.previous_trading_day(day).year)

    # -- sessions --------------------------------------------------------------------------

    def session(self, day: date) -> tuple[datetime, datetime] | None:
        """(open, close) of the regular session on `day`, aware in KST; None when closed."""
        if not self.is_trading_day(day):
            return None
        if day in self._csat:
            opens, closes = LATE_OPEN, CSAT_CLOSE
        elif self.is_first_trading_day_of_year(day):
            opens, closes = LATE_OPEN, REGULAR_CLOSE
        else:
            opens, closes = REGULAR_OPEN, REGULAR_CLOSE
        return datetime.combine(day, opens, KST), datetime.combine(day, closes, KST)

    def is_open(self, at: datetime) -> bool:
        """True when `at` (aware) falls inside a regular session: open <= at < close."""
        local = _kst(at)
        hours = self.session(local.date())
        return hours is not None and hours[0] <= local < hours[1]

    def next_open(self, at: datetime) -> datetime:
        """The earliest instant >= `at` at which the market is open (`at` itself if open now)."""
        local = _kst(at)
        hours = self.session(local.date())
        if hours is not None:
            if local < hours[0]:
                return hours[0]
            if local < hours[1]:
                return local
        day = self.next_trading_day(local.date())
        hours = self.session(day)
        assert hours is not None  # a trading day always has a session
        return hours[0]

    def next_trading_day_start(self, at: datetime) -> datetime:
        """The earliest instant >= `at` that lies on a trading day (KST midnight or `at`)."""
        local = _kst(at)
        if self.is_trading_day(local.date()):
            return local
        return datetime.combine(self.next_trading_day(local.date()), time(0, 0), KST)


def _kst(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("naive datetime: the calendar needs an aware instant")
    return at.astimezone(KST)


def _year_end_closure(year: int) -> date:
    """KRX closes on the last weekday of the year (12-31, or the Friday before a weekend)."""
    day = date(year, 12, 31)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day
