"""KRX trading days and the time windows in which each kind of order is taken and matched.

Spec §7.3: pre-open call auction 08:30–09:00, continuous 09:00–15:20, closing auction to
15:30, post-close at-close 15:30/15:40–16:00, after-hours single price 16:00–18:00. The sandbox
treats 09:00–15:30 as one continuous session (no separate closing auction). Paper takes
orders only from 09:00 (observed: "모의투자 장시작전 입니다." before the open).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal

import holidays

from adapters.sandbox.kis.clock import KST, SessionMode

WindowName = Literal["regular", "pre_open", "post_close", "after_hours"]
Phase = Literal["before", "open", "after"]

REGULAR_OPEN = time(9, 0)
REGULAR_CLOSE = time(15, 30)


@dataclass(frozen=True, slots=True)
class Window:
    """When orders of one kind are accepted, and when they can trade."""

    accept_from: time
    accept_until: time
    match_from: time
    match_until: time


WINDOWS: dict[WindowName, Window] = {
    "regular": Window(time(8, 30), REGULAR_CLOSE, REGULAR_OPEN, REGULAR_CLOSE),
    "pre_open": Window(time(8, 30), time(8, 40), time(8, 30), time(8, 40)),
    "post_close": Window(REGULAR_CLOSE, time(16, 0), time(15, 40), time(16, 0)),
    "after_hours": Window(time(16, 0), time(18, 0), time(16, 0), time(18, 0)),
}
PAPER_REGULAR = Window(REGULAR_OPEN, REGULAR_CLOSE, REGULAR_OPEN, REGULAR_CLOSE)


def window_for(name: WindowName, env: str) -> Window:
    return PAPER_REGULAR if env == "paper" and name == "regular" else WINDOWS[name]


class TradingCalendar:
    """KRX business days: weekdays that are not XKRX holidays or seed-listed closures."""

    def __init__(self, extra_closures: Iterable[date] = (), *, use_krx_holidays: bool = True):
        self._extra = frozenset(extra_closures)
        self._krx = holidays.financial_holidays("XKRX") if use_krx_holidays else None

    def is_trading_day(self, day: date) -> bool:
        if day.weekday() >= 5 or day in self._extra:
            return False
        return self._krx is None or day not in self._krx

    def next_trading_day(self, day: date) -> date:
        day += timedelta(days=1)
        while not self.is_trading_day(day):
            day += timedelta(days=1)
        return day

    def previous_trading_day(self, day: date) -> date:
        day -= timedelta(days=1)
        while not self.is_trading_day(day):
            day -= timedelta(days=1)
        return day

    def add_trading_days(self, day: date, count: int) -> date:
        """`count` business days after `day` (T+2 settlement is `add_trading_days(t, 2)`)."""
        for _ in range(count):
            day = self.next_trading_day(day)
        return day

    def last_trading_day_through(self, day: date) -> date:
        """`day` itself when the market trades that day, else the one before."""
        return day if self.is_trading_day(day) else self.previous_trading_day(day)


def accept_phase(at: datetime, window: Window, mode: SessionMode, cal: TradingCalendar) -> Phase:
    """Whether an order of this window is taken at `at`, or why not (before/after hours)."""
    if mode != "auto":
        return "open" if mode == "open" else "after"
    local = at.astimezone(KST)
    if not cal.is_trading_day(local.date()):
        return "after"
    if local.time() < window.accept_from:
        return "before"
    return "open" if local.time() < window.accept_until else "after"


def can_match(at: datetime, window: Window, mode: SessionMode, cal: TradingCalendar) -> bool:
    if mode != "auto":
        return mode == "open"
    local = at.astimezone(KST)
    if not cal.is_trading_day(local.date()):
        return False
    return window.match_from <= local.time() < window.match_until


def window_end(day: date, window: Window) -> datetime:
    """The moment a day order of this window expires."""
    return datetime.combine(day, window.match_until, tzinfo=KST)
