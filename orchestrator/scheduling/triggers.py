"""Triggers: cron or anchored interval, filtered by the KRX calendar."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger

from orchestrator.calendar import KrxCalendar
from orchestrator.domain.timeutil import KST
from orchestrator.scheduling.jobs import JobSpec, SchedulerSettings, cron_trigger

_MAX_TRIGGER_SKIPS = 10_000


class CalendarTrigger(BaseTrigger):  # type: ignore[misc]  # apscheduler is untyped
    """Wraps a trigger and skips fire times on KRX closed days and/or outside the session, and
    (with `trading_day_of_month`) on every trading day but the month's Nth."""

    def __init__(
        self,
        inner: Any,
        calendar: KrxCalendar,
        *,
        trading_days_only: bool,
        during_session_only: bool,
        trading_day_of_month: int | None = None,
    ) -> None:
        self.inner = inner
        self.calendar = calendar
        self.trading_days_only = trading_days_only or trading_day_of_month is not None
        self.during_session_only = during_session_only
        self.trading_day_of_month = trading_day_of_month

    def allows(self, at: datetime) -> bool:
        return self._resume_at(at) is None

    def _resume_at(self, at: datetime) -> datetime | None:
        """None if a fire at `at` is allowed, else the earliest instant worth asking again."""
        if self.during_session_only:
            return None if self.calendar.is_open(at) else self.calendar.next_open(at)
        if self.trading_days_only:
            start = self.calendar.next_trading_day_start(at)
            if start != at:
                return start
        wanted = self.trading_day_of_month
        if wanted is not None and self.calendar.trading_day_of_month(at) != wanted:
            # Ask the inner trigger again from the start of the next trading day.
            day = self.calendar.next_trading_day(_kst_date(at))
            return datetime.combine(day, time(0, 0), KST)
        return None

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        previous, start = previous_fire_time, now
        for _ in range(_MAX_TRIGGER_SKIPS):
            candidate: datetime | None = self.inner.get_next_fire_time(previous, start)
            if candidate is None:
                return None
            resume = self._resume_at(candidate)
            if resume is None:
                return candidate
            # Jump straight to the next open day/session instead of walking every fire time.
            previous, start = None, resume.astimezone(candidate.tzinfo)
        return None

    def __str__(self) -> str:
        return f"calendar[{self.inner}]"

    def __repr__(self) -> str:
        return (
            f"<CalendarTrigger inner={self.inner!r} trading_days_only={self.trading_days_only} "
            f"during_session_only={self.during_session_only}>"
        )


def _kst_date(at: datetime) -> date:
    return at.astimezone(KST).date()


def build_trigger(spec: JobSpec, settings: SchedulerSettings, calendar: KrxCalendar) -> Any:
    """The APScheduler trigger for `spec`: cron or anchored interval, calendar-filtered."""
    zone = settings.zone
    if spec.interval_seconds is not None:
        inner: Any = IntervalTrigger(
            seconds=spec.interval_seconds, start_date=settings.interval_anchor, timezone=zone
        )
    else:
        assert spec.cron is not None
        inner = cron_trigger(spec.cron, zone)
    if not (spec.trading_days_only or spec.during_session_only or spec.trading_day_of_month):
        return inner
    return CalendarTrigger(
        inner,
        calendar,
        trading_days_only=spec.trading_days_only,
        during_session_only=spec.during_session_only,
        trading_day_of_month=spec.trading_day_of_month,
    )
