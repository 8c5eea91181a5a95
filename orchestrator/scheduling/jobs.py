"""The `scheduler:` section: job specs, cron fields, the default schedule."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    field_validator,
    model_validator,
)

from orchestrator.domain.timeutil import KST

DEFAULT_ANCHOR = datetime(2000, 1, 1, tzinfo=KST)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


CronValue = int | str


class CronFields(_Section):
    """APScheduler cron fields, evaluated in the scheduler's timezone (Asia/Seoul)."""

    year: CronValue | None = None
    month: CronValue | None = None
    day: CronValue | None = None
    week: CronValue | None = None
    day_of_week: CronValue | None = None
    hour: CronValue | None = None
    minute: CronValue | None = None
    second: CronValue | None = None

    def values(self) -> dict[str, CronValue]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


def cron_trigger(cron: CronFields | str, zone: Any) -> Any:
    if isinstance(cron, str):
        return CronTrigger.from_crontab(cron, timezone=zone)
    return CronTrigger(timezone=zone, **cron.values())


class JobSpec(_Section):
    """One scheduled job. Exactly one of `cron` and `interval_seconds`."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.:-]{0,99}$")
    action: str = Field(min_length=1, max_length=200)
    cron: CronFields | str | None = None
    interval_seconds: PositiveInt | None = None
    trading_days_only: bool = False
    during_session_only: bool = False
    # Keep only the fire on the Nth KRX trading day of its month (workflow schedules): filtered
    # in the trigger, so the next fire time the scheduler reports is the one that will run.
    trading_day_of_month: int | None = Field(default=None, ge=1, le=23)
    misfire_grace_seconds: PositiveInt | None = 120
    coalesce: bool = True
    max_instances: PositiveInt = 1
    # What the job is for, in one line (the README's default-jobs table is made of these).
    summary: str = Field(default="", max_length=200)

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, v: CronFields | str | None) -> CronFields | str | None:
        if v is not None:
            try:
                cron_trigger(v, UTC)
            except (ValueError, TypeError) as e:
                raise ValueError(f"invalid cron expression: {e}") from e
        return v

    @model_validator(mode="after")
    def _one_trigger(self) -> JobSpec:
        if (self.cron is None) == (self.interval_seconds is None):
            raise ValueError("give exactly one of `cron` and `interval_seconds`")
        return self

    def describe_trigger(self) -> str:
        if self.interval_seconds is not None:
            text = f"every {self.interval_seconds}s"
        elif isinstance(self.cron, str):
            text = f"cron '{self.cron}'"
        else:
            assert self.cron is not None
            fields = " ".join(f"{k}={v}" for k, v in self.cron.values().items())
            text = f"cron {fields}"
        if self.during_session_only:
            text += ", during the KRX session"
        elif self.trading_day_of_month is not None:
            text += f", on KRX trading day {self.trading_day_of_month} of the month"
        elif self.trading_days_only:
            text += ", on KRX trading days"
        return text


# The one declaration of the default schedule: `scheduler.jobs` absent means exactly these, and
# the README's table of default jobs is rendered from them (tests/scheduling/test_default_jobs.py
# fails when the two differ). Each action is wired in the composition root.
DEFAULT_JOBS: tuple[JobSpec, ...] = (
    JobSpec(
        id="reconcile-intraday",
        action="reconcile",
        cron=CronFields(minute="*/5"),
        during_session_only=True,
        misfire_grace_seconds=120,
        summary="reconcile every account while the KRX regular session is open",
    ),
    JobSpec(
        id="reconcile-eod",
        action="reconcile",
        cron=CronFields(hour=16, minute=0),
        trading_days_only=True,
        misfire_grace_seconds=1800,
        summary="end-of-day reconciliation after the close",
    ),
    JobSpec(
        id="token-upkeep",
        action="token_upkeep",
        interval_seconds=3600,
        misfire_grace_seconds=600,
        summary="renew vendor tokens before they expire",
    ),
    JobSpec(
        id="orders-upkeep",
        action="orders_upkeep",
        interval_seconds=60,
        misfire_grace_seconds=60,
        summary="settle unknown order outcomes, record fills, expire overdue approvals",
    ),
)


def default_jobs_table(jobs: tuple[JobSpec, ...] = DEFAULT_JOBS) -> str:
    """The Markdown table of the default schedule, as the README shows it."""
    rows = ["| job | when | what |", "| --- | --- | --- |"]
    rows += [f"| `{j.id}` | {j.describe_trigger()} | {j.summary} |" for j in jobs]
    return "\n".join(rows)


class SchedulerSettings(_Section):
    """The `scheduler:` section (validated with `LoadedSettings.section("scheduler", ...)`)."""

    enabled: bool = True
    timezone: str = "Asia/Seoul"
    interval_anchor: datetime = DEFAULT_ANCHOR
    jobs: tuple[JobSpec, ...] = DEFAULT_JOBS

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"unknown timezone {v!r}") from e
        return v

    @field_validator("interval_anchor")
    @classmethod
    def _aware_anchor(cls, v: datetime) -> datetime:
        if v.tzinfo is None or v.utcoffset() is None:
            raise ValueError("interval_anchor must carry a UTC offset, e.g. 2000-01-01T00:00+09:00")
        return v

    @field_validator("jobs")
    @classmethod
    def _unique_ids(cls, v: tuple[JobSpec, ...]) -> tuple[JobSpec, ...]:
        seen: set[str] = set()
        for spec in v:
            if spec.id in seen:
                raise ValueError(f"duplicate job id {spec.id!r}")
            seen.add(spec.id)
        return v

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
