"""Scheduling: APScheduler 3 jobs built from config, each fire claimed once across replicas.

Every replica runs the same `AsyncIOScheduler` (memory job store) with the same jobs. When a job
fires, the replica claims it by inserting (job_id, scheduled_for) into the run table under its
unique key (`JobRunStore.claim`); the one insert that succeeds runs the job, every other replica
logs `scheduler.fire_claimed_elsewhere` and skips. The claimed row is also the run history
(running -> succeeded/failed, duration, error, replica).

The key must be identical on every replica, whatever their wall clocks say. It is the trigger's
*nominal* fire time as APScheduler computed it (a small executor subclass hands each run time to
the job, since APScheduler 3 does not), normalised to whole seconds in UTC. Cron triggers are
deterministic; interval triggers are anchored at a fixed instant (`interval_anchor`), so every
replica counts the same grid instead of counting from its own start time.

Calendar filters are part of the trigger: with `trading_days_only` or `during_session_only` the
trigger skips fire times on KRX closed days / outside the session, so such fires are never
scheduled, claimed or recorded, and `jobs()` shows the real next fire time. The same check is
repeated when a fire starts (a calendar changed by a config reload cannot slip through).

Pause is a row shared by all replicas, read at each fire: a paused job's fires are skipped before
the claim (nothing recorded; `scheduler.fire_skipped` reason=paused). An operator's "run now"
is claimed like a fire, keyed by the request time and marked manual; it runs even when the job is
paused or the market is closed (the operator asked for it).

APScheduler options reach each job unchanged: `misfire_grace_seconds` (a fire later than this is
dropped: `scheduler.fire_missed`), `coalesce` (several missed fires run once, as the latest),
`max_instances` (per replica: the claim only stops two replicas running the *same* fire).
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog
from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
)
from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    field_validator,
    model_validator,
)

from orchestrator.calendar import KrxCalendar
from orchestrator.domain.errors import ConfigError
from orchestrator.domain.model import AuditEvent
from orchestrator.domain.timeutil import KST, to_utc
from orchestrator.ports.scheduling import JobRun, JobRunStore, RunStatus
from orchestrator.ports.upstream import AuditLog, Clock

log = structlog.get_logger(__name__)

DEFAULT_ANCHOR = datetime(2000, 1, 1, tzinfo=KST)
_MAX_TRIGGER_SKIPS = 10_000
_ERROR_MAX = 4000

# ---------------------------------------------------------------------------------------------
# Configuration: the `scheduler:` section
# ---------------------------------------------------------------------------------------------


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


def _cron_trigger(cron: CronFields | str, zone: Any) -> Any:
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
    misfire_grace_seconds: PositiveInt | None = 120
    coalesce: bool = True
    max_instances: PositiveInt = 1

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, v: CronFields | str | None) -> CronFields | str | None:
        if v is not None:
            try:
                _cron_trigger(v, UTC)
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
        elif self.trading_days_only:
            text += ", on KRX trading days"
        return text


DEFAULT_JOBS: tuple[JobSpec, ...] = (
    JobSpec(
        id="reconcile-intraday",
        action="reconcile",
        cron=CronFields(minute="*/5"),
        during_session_only=True,
        misfire_grace_seconds=120,
    ),
    JobSpec(
        id="reconcile-eod",
        action="reconcile",
        cron=CronFields(hour=16, minute=0),
        trading_days_only=True,
        misfire_grace_seconds=1800,
    ),
    JobSpec(
        id="token-upkeep",
        action="token_upkeep",
        interval_seconds=3600,
        misfire_grace_seconds=600,
    ),
)


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


# ---------------------------------------------------------------------------------------------
# What jobs receive and what the operator sees
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JobFire:
    """Handed to the action: which fire this is. `key` is stable across replicas and retries."""

    job_id: str
    action: str
    scheduled_for: datetime
    replica: str
    manual: bool = False
    requested_by: str | None = None

    @property
    def key(self) -> str:
        return f"{self.job_id}@{self.scheduled_for.isoformat()}"


Action = Callable[[JobFire], Awaitable[object]]
"""An async callable run for a fire. Raising marks the run failed (error text recorded)."""


@dataclass(frozen=True, slots=True)
class JobInfo:
    id: str
    action: str
    trigger: str
    trading_days_only: bool
    during_session_only: bool
    paused: bool
    next_fire_time: datetime | None  # UTC; None when paused or the trigger is exhausted
    misfire_grace_seconds: int | None
    coalesce: bool
    max_instances: int
    paused_by: str | None = None
    paused_at: datetime | None = None
    last_run: JobRun | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "action": self.action,
            "trigger": self.trigger,
            "trading_days_only": self.trading_days_only,
            "during_session_only": self.during_session_only,
            "paused": self.paused,
            "next_fire_time": _iso(self.next_fire_time),
            "misfire_grace_seconds": self.misfire_grace_seconds,
            "coalesce": self.coalesce,
            "max_instances": self.max_instances,
            "paused_by": self.paused_by,
            "paused_at": _iso(self.paused_at),
            "last_run": self.last_run.as_dict() if self.last_run else None,
        }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def resolve_action(actions: Mapping[str, Action], name: str) -> Action | None:
    """`name` itself, else for "kind:arg" the wildcard "kind:*" (it reads `JobFire.action`)."""
    if name in actions:
        return actions[name]
    kind, sep, _ = name.partition(":")
    if sep:
        return actions.get(f"{kind}:*")
    return None


def default_replica_id() -> str:
    """host:pid, unique among live replicas; recorded on each run it claims."""
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


def nominal(run_time: datetime) -> datetime:
    """The claim key of a scheduled fire: the trigger time in UTC, rounded to whole seconds.

    Trigger times are already whole seconds; rounding only absorbs float noise from interval
    arithmetic so that every replica produces exactly the same key.
    """
    utc = to_utc(run_time)
    return (utc + timedelta(microseconds=500_000)).replace(microsecond=0)


# ---------------------------------------------------------------------------------------------
# Triggers
# ---------------------------------------------------------------------------------------------


class CalendarTrigger(BaseTrigger):  # type: ignore[misc]  # apscheduler is untyped
    """Wraps a trigger and skips fire times on KRX closed days and/or outside the session."""

    def __init__(
        self,
        inner: Any,
        calendar: KrxCalendar,
        *,
        trading_days_only: bool,
        during_session_only: bool,
    ) -> None:
        self.inner = inner
        self.calendar = calendar
        self.trading_days_only = trading_days_only
        self.during_session_only = during_session_only

    def allows(self, at: datetime) -> bool:
        return self._resume_at(at) is None

    def _resume_at(self, at: datetime) -> datetime | None:
        """None if a fire at `at` is allowed, else the earliest instant worth asking again."""
        if self.during_session_only:
            return None if self.calendar.is_open(at) else self.calendar.next_open(at)
        if self.trading_days_only:
            start = self.calendar.next_trading_day_start(at)
            return None if start == at else start
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


def build_trigger(spec: JobSpec, settings: SchedulerSettings, calendar: KrxCalendar) -> Any:
    """The APScheduler trigger for `spec`: cron or anchored interval, calendar-filtered."""
    zone = settings.zone
    if spec.interval_seconds is not None:
        inner: Any = IntervalTrigger(
            seconds=spec.interval_seconds, start_date=settings.interval_anchor, timezone=zone
        )
    else:
        assert spec.cron is not None
        inner = _cron_trigger(spec.cron, zone)
    if not (spec.trading_days_only or spec.during_session_only):
        return inner
    return CalendarTrigger(
        inner,
        calendar,
        trading_days_only=spec.trading_days_only,
        during_session_only=spec.during_session_only,
    )


# ---------------------------------------------------------------------------------------------
# The executor: hands APScheduler's nominal run time to the claim
# ---------------------------------------------------------------------------------------------

FireFn = Callable[[str, datetime], Awaitable["JobRun | None"]]


class ClaimingExecutor(AsyncIOExecutor):  # type: ignore[misc]  # apscheduler is untyped
    """AsyncIOExecutor that runs `fire(job_id, run_time)` once per nominal run time.

    APScheduler 3 does not tell a job when it was *scheduled*; this does, and keeps the stock
    executor's misfire check (against the injected clock), events and instance accounting.
    """

    def __init__(self, fire: FireFn, clock: Clock) -> None:
        super().__init__()
        self._fire = fire
        self._clock = clock

    def pending(self) -> set[asyncio.Future[Any]]:
        return set(getattr(self, "_pending_futures", set()))

    def _do_submit_job(self, job: Any, run_times: Sequence[datetime]) -> None:
        def callback(f: asyncio.Future[Any]) -> None:
            self._pending_futures.discard(f)
            try:
                events = f.result()
            except BaseException as e:
                self._run_job_error(job.id, e, e.__traceback__)
            else:
                self._run_job_success(job.id, events)

        task = self._eventloop.create_task(self._run(job, list(run_times)))
        task.add_done_callback(callback)
        self._pending_futures.add(task)

    async def _run(self, job: Any, run_times: list[datetime]) -> list[Any]:
        events: list[Any] = []
        alias = job._jobstore_alias
        for run_time in run_times:
            if job.misfire_grace_time is not None:
                late = self._clock.now() - run_time
                if late > timedelta(seconds=job.misfire_grace_time):
                    events.append(JobExecutionEvent(EVENT_JOB_MISSED, job.id, alias, run_time))
                    log.warning(
                        "scheduler.fire_missed",
                        job_id=job.id,
                        scheduled_for=nominal(run_time).isoformat(),
                        late_seconds=round(late.total_seconds(), 3),
                        misfire_grace_seconds=job.misfire_grace_time,
                    )
                    continue
            try:
                retval = await self._fire(job.id, run_time)
            except Exception as e:
                events.append(
                    JobExecutionEvent(EVENT_JOB_ERROR, job.id, alias, run_time, exception=e)
                )
            else:
                events.append(
                    JobExecutionEvent(EVENT_JOB_EXECUTED, job.id, alias, run_time, retval=retval)
                )
        return events


# ---------------------------------------------------------------------------------------------
# The facade
# ---------------------------------------------------------------------------------------------


class Scheduler:
    """The service's scheduler: start/stop, and the operator's view and controls.

    `actions` maps action names from config to async callables (the composition root decides);
    an unknown action is a ConfigError at construction. Methods taking a `job_id` raise KeyError
    for a job that is not configured.
    """

    def __init__(
        self,
        settings: SchedulerSettings,
        *,
        actions: Mapping[str, Action],
        store: JobRunStore,
        calendar: KrxCalendar,
        clock: Clock,
        replica: str | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        self.settings = settings
        self.replica = replica or default_replica_id()
        self._store = store
        self._calendar = calendar
        self._clock = clock
        self._audit = audit
        self._specs: dict[str, JobSpec] = {spec.id: spec for spec in settings.jobs}
        missing = [
            f"scheduler.jobs[{i}] ({spec.id}): unknown action {spec.action!r}"
            for i, spec in enumerate(settings.jobs)
            if resolve_action(actions, spec.action) is None
        ]
        if missing:
            known = ", ".join(sorted(actions)) or "none"
            raise ConfigError("\n".join(missing) + f"\n(known actions: {known})")
        self._actions: dict[str, Action] = {
            spec.id: action
            for spec in settings.jobs
            if (action := resolve_action(actions, spec.action)) is not None
        }
        self._triggers: dict[str, Any] = {
            spec.id: build_trigger(spec, settings, calendar) for spec in settings.jobs
        }
        self._executor = ClaimingExecutor(self.run_fire, clock)
        self._aps: Any = None
        self._manual: set[asyncio.Task[JobRun]] = set()
        self._running = False

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._running

    @property
    def aps(self) -> Any:
        """The underlying AsyncIOScheduler while running (for diagnostics and tests)."""
        return self._aps

    async def start(self) -> None:
        """Schedule every configured job on this replica (needs the running event loop)."""
        if self._running:
            return
        if not self.settings.enabled:
            log.info("scheduler.disabled", replica=self.replica)
            return
        aps = AsyncIOScheduler(timezone=self.settings.zone, executors={"default": self._executor})
        for spec in self.settings.jobs:
            aps.add_job(
                self._job_target,
                trigger=self._triggers[spec.id],
                args=(spec.id,),
                id=spec.id,
                name=spec.id,
                misfire_grace_time=spec.misfire_grace_seconds,
                coalesce=spec.coalesce,
                max_instances=spec.max_instances,
                replace_existing=True,
            )
        aps.start()
        self._aps = aps
        self._running = True
        log.info("scheduler.started", replica=self.replica, jobs=sorted(self._specs))

    async def shutdown(self, *, grace_seconds: float = 30.0) -> None:
        """Stop firing, let running jobs finish for up to `grace_seconds`, then cancel them."""
        if not self._running:
            await self._drain(grace_seconds)
            return
        self._running = False
        aps, self._aps = self._aps, None
        aps.pause()
        await self._drain(grace_seconds)
        aps.shutdown(wait=False)
        await asyncio.sleep(0)  # AsyncIOScheduler.shutdown runs on the next loop iteration
        log.info("scheduler.stopped", replica=self.replica)

    async def _drain(self, grace_seconds: float) -> None:
        pending: set[asyncio.Future[Any]] = {*self._executor.pending(), *self._manual}
        if not pending:
            return
        _, late = await asyncio.wait(pending, timeout=grace_seconds)
        for task in late:
            task.cancel()
        if late:
            await asyncio.gather(*late, return_exceptions=True)

    async def wait_idle(self) -> None:
        """Wait until no fire or manual run is in progress on this replica."""
        while pending := {*self._executor.pending(), *self._manual}:
            await asyncio.gather(*pending, return_exceptions=True)

    # -- operator view and controls ----------------------------------------------------------

    def _spec(self, job_id: str) -> JobSpec:
        try:
            return self._specs[job_id]
        except KeyError:
            raise KeyError(f"unknown job {job_id!r}") from None

    def next_fire_time(self, job_id: str) -> datetime | None:
        """The trigger's next fire time (UTC), ignoring pause."""
        self._spec(job_id)
        when: datetime | None
        if self._aps is not None and (job := self._aps.get_job(job_id)) is not None:
            when = job.next_run_time
        else:
            now = self._clock.now().astimezone(self.settings.zone)
            when = self._triggers[job_id].get_next_fire_time(None, now)
        return None if when is None else to_utc(when)

    async def jobs(self) -> list[JobInfo]:
        """Every configured job with its pause state, next fire time and last run."""
        states = await self._store.states()
        infos = []
        for spec in self.settings.jobs:
            state = states.get(spec.id)
            paused = bool(state and state.paused)
            last = await self._store.runs(spec.id, 1)
            infos.append(
                JobInfo(
                    id=spec.id,
                    action=spec.action,
                    trigger=spec.describe_trigger(),
                    trading_days_only=spec.trading_days_only,
                    during_session_only=spec.during_session_only,
                    paused=paused,
                    next_fire_time=None if paused else self.next_fire_time(spec.id),
                    misfire_grace_seconds=spec.misfire_grace_seconds,
                    coalesce=spec.coalesce,
                    max_instances=spec.max_instances,
                    paused_by=state.updated_by if state and state.paused else None,
                    paused_at=state.updated_at if state and state.paused else None,
                    last_run=last[0] if last else None,
                )
            )
        return infos

    async def runs(self, job_id: str | None = None, limit: int = 50) -> list[JobRun]:
        """Run history, newest first (all jobs when `job_id` is None); `limit` within 1..1000."""
        return list(await self._store.runs(job_id, max(1, min(limit, 1000))))

    async def pause(self, job_id: str, by: str) -> None:
        """Skip this job's fires on every replica until resumed (persisted)."""
        await self._set_paused(job_id, True, by)

    async def resume(self, job_id: str, by: str) -> None:
        await self._set_paused(job_id, False, by)

    async def _set_paused(self, job_id: str, paused: bool, by: str) -> None:
        self._spec(job_id)
        now = self._clock.now()
        await self._store.set_paused(job_id, paused, by=by, at=now)
        action = "scheduler.job_paused" if paused else "scheduler.job_resumed"
        log.info(action, job_id=job_id, by=by, replica=self.replica)
        await self._record(now, by, action, job_id)

    async def trigger(self, job_id: str, by: str = "operator") -> JobRun:
        """Run the job now on this replica, in the background; returns the claimed run.

        Claimed like a fire, keyed by the request time (`manual=True`); ignores pause and the
        calendar filters. Raises KeyError for an unknown job.
        """
        spec = self._spec(job_id)
        for attempt in range(5):
            now = self._clock.now()
            key = to_utc(now) + timedelta(microseconds=attempt)
            if await self._store.claim(
                job_id, key, self.replica, started_at=now, manual=True, requested_by=by
            ):
                break
        else:
            raise RuntimeError(f"could not claim a manual run of {job_id!r}")
        fire = JobFire(
            job_id=job_id,
            action=spec.action,
            scheduled_for=key,
            replica=self.replica,
            manual=True,
            requested_by=by,
        )
        log.info("scheduler.job_triggered", job_id=job_id, by=by, scheduled_for=key.isoformat())
        await self._record(now, by, "scheduler.job_triggered", job_id)
        task = asyncio.get_running_loop().create_task(self._execute(fire, now))
        self._manual.add(task)
        task.add_done_callback(self._manual.discard)
        return JobRun(
            job_id=job_id,
            scheduled_for=key,
            replica=self.replica,
            status="running",
            started_at=now,
            manual=True,
            requested_by=by,
        )

    async def _record(self, at: datetime, by: str, action: str, job_id: str) -> None:
        if self._audit is not None:
            await self._audit.append(
                AuditEvent(at=at, actor=by, action=action, subject=f"job:{job_id}")
            )

    # -- firing ----------------------------------------------------------------------------

    async def _job_target(self, job_id: str) -> None:
        """The APScheduler job's target. Never called: ClaimingExecutor calls `run_fire` with
        the nominal run time instead, which APScheduler 3 would not pass to the target."""
        raise RuntimeError(f"job {job_id!r} must run through ClaimingExecutor")

    async def run_fire(self, job_id: str, scheduled_for: datetime) -> JobRun | None:
        """Claim and run one scheduled fire; None when it was skipped or claimed elsewhere.

        This is what the scheduler calls at each fire (with the trigger's nominal time); it never
        raises for a failing job (the failure is recorded on the run).
        """
        spec = self._spec(job_id)
        key = nominal(scheduled_for)
        bound = log.bind(job_id=job_id, scheduled_for=key.isoformat(), replica=self.replica)
        trigger = self._triggers[job_id]
        if isinstance(trigger, CalendarTrigger) and not trigger.allows(key):
            bound.info("scheduler.fire_skipped", reason="market_closed")
            return None
        now = self._clock.now()
        try:
            if await self._store.is_paused(job_id):
                bound.info("scheduler.fire_skipped", reason="paused")
                return None
            claimed = await self._store.claim(job_id, key, self.replica, started_at=now)
        except Exception as e:
            bound.error("scheduler.claim_failed", error=f"{type(e).__name__}: {e}")
            return None
        if not claimed:
            bound.info("scheduler.fire_claimed_elsewhere")
            return None
        fire = JobFire(job_id=job_id, action=spec.action, scheduled_for=key, replica=self.replica)
        return await self._execute(fire, now)

    async def _execute(self, fire: JobFire, started_at: datetime) -> JobRun:
        bound = log.bind(
            job_id=fire.job_id,
            scheduled_for=fire.scheduled_for.isoformat(),
            replica=self.replica,
            manual=fire.manual,
        )
        bound.info("scheduler.job_started", action=fire.action)
        status: RunStatus = "succeeded"
        error: str | None = None
        try:
            await self._actions[fire.job_id](fire)
        except asyncio.CancelledError:
            await self._finish(fire, started_at, "failed", "cancelled (scheduler shutdown)")
            bound.warning("scheduler.job_failed", error="cancelled")
            raise
        except Exception as e:
            status, error = "failed", f"{type(e).__name__}: {e}"[:_ERROR_MAX]
        finished = await self._finish(fire, started_at, status, error)
        duration_ms = _ms(started_at, finished)
        if error is None:
            bound.info("scheduler.job_succeeded", duration_ms=duration_ms)
        else:
            bound.error("scheduler.job_failed", duration_ms=duration_ms, error=error)
        return JobRun(
            job_id=fire.job_id,
            scheduled_for=fire.scheduled_for,
            replica=self.replica,
            status=status,
            started_at=started_at,
            finished_at=finished,
            duration_ms=duration_ms,
            error=error,
            manual=fire.manual,
            requested_by=fire.requested_by,
        )

    async def _finish(
        self, fire: JobFire, started_at: datetime, status: RunStatus, error: str | None
    ) -> datetime:
        finished = self._clock.now()
        try:
            await self._store.finish(
                fire.job_id,
                fire.scheduled_for,
                status=status,
                finished_at=finished,
                duration_ms=_ms(started_at, finished),
                error=error,
            )
        except Exception as e:
            log.error(
                "scheduler.finish_not_recorded",
                job_id=fire.job_id,
                scheduled_for=fire.scheduled_for.isoformat(),
                status=status,
                error=f"{type(e).__name__}: {e}",
            )
        return finished


def _ms(start: datetime, end: datetime) -> int:
    return max(0, round((end - start).total_seconds() * 1000))
