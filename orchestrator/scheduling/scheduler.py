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
import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from orchestrator.calendar import KrxCalendar
from orchestrator.domain.errors import ConfigError
from orchestrator.domain.model import AuditEvent
from orchestrator.domain.timeutil import to_utc
from orchestrator.ports.scheduling import (
    ItemOutcome,
    ItemStatus,
    JobRun,
    JobRunStatus,
    JobRunStore,
)
from orchestrator.ports.tasks import FannedOut, FireEngine
from orchestrator.ports.upstream import AuditLog, Clock
from orchestrator.scheduling.executor import ClaimingExecutor
from orchestrator.scheduling.fires import (
    Action,
    JobFire,
    JobInfo,
    default_replica_id,
    nominal,
    resolve_action,
)
from orchestrator.scheduling.jobs import JobSpec, SchedulerSettings
from orchestrator.scheduling.triggers import CalendarTrigger, build_trigger

log = structlog.get_logger(__name__)

_ERROR_MAX = 4000


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
        engine: FireEngine | None = None,
    ) -> None:
        self.settings = settings
        # With a task engine (PostgreSQL), a fire is offered to the engine, whose own
        # once-per-fire guarantee picks one replica's offer; a worker then runs it through
        # `execute_fire`. Without one, the claim row decides and this replica runs it.
        self.engine = engine
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
        latest = await self._store.latest()
        infos = []
        for spec in self.settings.jobs:
            state = states.get(spec.id)
            paused = bool(state and state.paused)
            last = latest.get(spec.id)
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
                    last_run=last,
                )
            )
        return infos

    async def runs(self, job_id: str | None = None, limit: int = 50) -> list[JobRun]:
        """Run history, newest first (all jobs when `job_id` is None); `limit` within 1..1000.

        Counts only (one query): a fire's per-investor outcomes are read a page at a time with
        `outcomes`, so a fire fanned out to 10,000 investors costs this list nothing more.
        """
        runs = await self._store.runs(job_id, max(1, min(limit, 1000)))
        return [dataclasses.replace(run, overran=self.overran(run)) for run in runs]

    async def run(self, job_id: str, scheduled_for: datetime) -> JobRun | None:
        """One recorded run with its counts and `overran`, or None (any job id: the history
        may hold runs of a job no longer configured)."""
        run = await self._store.run(job_id, scheduled_for)
        return None if run is None else dataclasses.replace(run, overran=self.overran(run))

    async def outcomes(
        self,
        job_id: str,
        scheduled_for: datetime,
        *,
        limit: int = 100,
        offset: int = 0,
        status: ItemStatus | None = None,
    ) -> Sequence[ItemOutcome]:
        """One page of a run's per-investor outcomes, by investor; `limit` within 1..1000."""
        limit, offset = max(1, min(limit, 1000)), max(0, offset)
        return await self._store.items(
            job_id, scheduled_for, limit=limit, offset=offset, status=status
        )

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
        if self.engine is not None:
            await self.engine.defer_fire(job_id, key, manual=True, requested_by=by)
        else:
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
            if self.engine is not None:
                if await self.engine.defer_fire(job_id, key):
                    bound.info("scheduler.fire_deferred", engine=self.engine.name)
                else:
                    bound.info("scheduler.fire_claimed_elsewhere")
                return None
            await self._report_overrun(job_id, key)
            claimed = await self._store.claim(job_id, key, self.replica, started_at=now)
        except Exception as e:
            bound.error("scheduler.claim_failed", error=f"{type(e).__name__}: {e}")
            return None
        if not claimed:
            bound.info("scheduler.fire_claimed_elsewhere")
            return None
        fire = JobFire(job_id=job_id, action=spec.action, scheduled_for=key, replica=self.replica)
        return await self._execute(fire, now)

    async def execute_fire(
        self,
        job_id: str,
        scheduled_for: datetime,
        *,
        worker: str,
        manual: bool = False,
        requested_by: str | None = None,
    ) -> JobRun | None:
        """Run a fire the engine handed to this worker (at most one worker holds it at a time).

        A run row left `running` by a worker that died is taken over and run again (its
        per-investor tasks skip investors already recorded); a finished one is not rerun.
        """
        spec = self._spec(job_id)
        key = to_utc(scheduled_for)
        bound = log.bind(job_id=job_id, scheduled_for=key.isoformat(), replica=worker)
        now = self._clock.now()
        if not manual:
            await self._report_overrun(job_id, key)
        started_at = now
        if not await self._store.claim(
            job_id, key, worker, started_at=now, manual=manual, requested_by=requested_by
        ):
            existing = await self._store.run(job_id, key)
            if existing is not None and existing.status != "running":
                bound.info("scheduler.fire_already_finished", status=existing.status)
                return existing
            if existing is not None and not (manual and existing.replica == self.replica):
                bound.warning("scheduler.fire_taken_over", previous=existing.replica)
            if existing is not None:
                started_at = existing.started_at
        fire = JobFire(
            job_id=job_id,
            action=spec.action,
            scheduled_for=key,
            replica=worker,
            manual=manual,
            requested_by=requested_by,
        )
        return await self._execute(fire, started_at)

    def _next_after(self, job_id: str, scheduled_for: datetime) -> datetime | None:
        zone = self.settings.zone
        at = scheduled_for.astimezone(zone)
        when = self._triggers[job_id].get_next_fire_time(at, at + timedelta(seconds=1))
        return None if when is None else to_utc(when)

    def overran(self, run: JobRun) -> bool:
        """True when a scheduled run ended (or is still running) after its job's next fire."""
        if run.manual or run.job_id not in self._triggers:
            return False
        following = self._next_after(run.job_id, run.scheduled_for)
        if following is None:
            return False
        end = run.finished_at or self._clock.now()
        return end > following

    async def _report_overrun(self, job_id: str, key: datetime) -> None:
        """A fire starting while the previous one of its job is still running is reported (log
        and alert-worthy event), never silently overlapped."""
        last = await self._store.runs(job_id, 2)
        for run in last:
            if run.scheduled_for < key and run.status == "running" and not run.manual:
                log.warning(
                    "scheduler.fire_overran",
                    job_id=job_id,
                    scheduled_for=run.scheduled_for.isoformat(),
                    next_fire=key.isoformat(),
                    done=run.done,
                    failed=run.failed,
                    total=run.total,
                )
                break

    async def _execute(self, fire: JobFire, started_at: datetime) -> JobRun:
        bound = log.bind(
            job_id=fire.job_id,
            scheduled_for=fire.scheduled_for.isoformat(),
            replica=self.replica,
            manual=fire.manual,
        )
        bound.info("scheduler.job_started", action=fire.action)
        status: JobRunStatus = "succeeded"
        error: str | None = None
        try:
            result = await self._actions[fire.job_id](fire)
            if isinstance(result, FannedOut):
                # The last investor task finishes the run (see JobRunStore.record_item).
                bound.info("scheduler.job_fanned_out", total=result.total)
                return await self._store.run(fire.job_id, fire.scheduled_for) or JobRun(
                    job_id=fire.job_id,
                    scheduled_for=fire.scheduled_for,
                    replica=fire.replica,
                    status="running",
                    started_at=started_at,
                    manual=fire.manual,
                    requested_by=fire.requested_by,
                    total=result.total,
                )
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
        self, fire: JobFire, started_at: datetime, status: JobRunStatus, error: str | None
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
