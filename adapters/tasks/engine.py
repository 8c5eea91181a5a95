"""procrastinate behind our FireEngine / TaskEngine ports.

Two tasks:
- `orchestrator.fire` (one per scheduled fire): every replica's scheduler offers each fire through
  `JobManager.defer_periodic_job`, the engine's own once-per-fire guarantee (a unique row per
  task, periodic id and timestamp in `procrastinate_periodic_defers`); one offer becomes a job.
  The worker that takes it runs the job's action, which fans out:
- `orchestrator.investor` (one per investor and fire), deferred with `lock="investor:<id>"`, so
  one investor's work never runs twice at once on any worker, and retried with our backoff
  (1 s, 2 s, 4 s ... capped at 30 s) when it failed for a retryable reason.

A third, `orchestrator.prune_jobs`, is one of procrastinate's own periodic tasks (deferred once
per hour across all workers): it deletes the queue's finished jobs older than
`keep_finished_hours` (the run history lives in `job_runs`, not in the queue).

A worker killed with its jobs in `doing` stops sending heartbeats; `run_worker` has every worker
retry the jobs of workers silent for longer than `stalled_after` seconds (procrastinate's
`get_stalled_jobs` + `retry_job`), so a fire or investor task whose worker died runs again on
another one, and the task's own idempotency makes the second run harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog
from procrastinate import App, PsycopgConnector, RetryDecision
from procrastinate.exceptions import ProcrastinateException
from procrastinate.job_context import JobContext
from procrastinate.jobs import Job
from procrastinate.retry import BaseRetryStrategy
from procrastinate.schema import SchemaManager
from sqlalchemy.engine import make_url

from orchestrator.domain.errors import ConfigError
from orchestrator.ports.tasks import InvestorTask, TaskKind
from orchestrator.scheduling import Scheduler
from orchestrator.services.fanout import InvestorTaskRunner, RetryLater

log = structlog.get_logger(__name__)

FIRE_TASK = "orchestrator.fire"
INVESTOR_TASK = "orchestrator.investor"
PRUNE_TASK = "orchestrator.prune_jobs"
MAX_ATTEMPTS = 5
# Jobs deferred per statement when a fire fans out (one array argument each).
DEFER_CHUNK = 500
# A fan-out at least this large refreshes the queue table's statistics (see `submit`).
ANALYZE_AFTER = 200


def conninfo(url: str) -> str:
    """A libpq connection string from the SQLAlchemy URL (`postgresql+asyncpg://...`)."""
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


class BackoffRetry(BaseRetryStrategy):
    """The service's backoff rule (1 s, 2 s, 4 s ... capped at 30 s) for tasks that asked for
    another attempt (RetryLater); anything else is not retried."""

    def __init__(self, max_attempts: int = MAX_ATTEMPTS, cap_seconds: int = 30) -> None:
        self.max_attempts = max_attempts
        self.cap_seconds = cap_seconds

    def wait_seconds(self, attempts: int) -> int:
        return int(min(self.cap_seconds, 2**attempts))

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if not isinstance(exception, RetryLater) or job.attempts + 1 >= self.max_attempts:
            return None
        return RetryDecision(retry_in={"seconds": self.wait_seconds(job.attempts)})


@dataclass
class TaskHost:
    """What the tasks call into; filled in by the composition root before the worker starts."""

    scheduler: Scheduler | None = None
    runner: InvestorTaskRunner | None = None
    worker: str = "worker"
    attempts: dict[str, int] = field(default_factory=dict)


def create_task_app(
    url: str,
    host: TaskHost,
    *,
    search_path: str | None = None,
    application_name: str | None = None,
    keep_finished_hours: int = 24,
    prune_cron: str = "23 * * * *",
) -> App:
    """The procrastinate App for the database at `url` (same database as the service).

    Its periodic prune (`prune_cron`, UTC) deletes finished jobs older than
    `keep_finished_hours`."""
    kwargs: dict[str, Any] = {}
    if search_path:
        kwargs["options"] = f"-c search_path={search_path}"
    if application_name:
        kwargs["application_name"] = application_name
    connector = PsycopgConnector(conninfo=conninfo(url), kwargs=kwargs, min_size=1, max_size=4)
    app = App(connector=connector)
    retry = BackoffRetry()

    @app.task(name=FIRE_TASK, pass_context=True)
    async def fire(
        context: JobContext,
        timestamp: int,
        job_id: str,
        scheduled_for: str,
        manual: bool = False,
        requested_by: str | None = None,
    ) -> None:
        if host.scheduler is None:
            raise RuntimeError("this worker has no scheduler to run fires with")
        await host.scheduler.execute_fire(
            job_id,
            datetime.fromisoformat(scheduled_for),
            worker=host.worker,
            manual=manual,
            requested_by=requested_by,
        )

    @app.task(name=INVESTOR_TASK, pass_context=True, retry=retry)
    async def investor(
        context: JobContext,
        kind: TaskKind,
        investor: str,
        job_id: str,
        scheduled_for: str,
        arg: str | None = None,
    ) -> None:
        if host.runner is None:
            raise RuntimeError("this worker has no investor task runner")
        attempts = context.job.attempts
        task = InvestorTask(
            kind=kind,
            investor=investor,
            job_id=job_id,
            scheduled_for=datetime.fromisoformat(scheduled_for),
            arg=arg,
            attempt=attempts,
        )
        await host.runner.run(task, may_retry=attempts + 1 < retry.max_attempts)

    @app.periodic(cron=prune_cron, periodic_id="prune")
    @app.task(name=PRUNE_TASK, pass_context=True)
    async def prune(context: JobContext, timestamp: int) -> None:
        await prune_finished_jobs(app, keep_hours=keep_finished_hours)
        log.info("tasks.jobs_pruned", keep_hours=keep_finished_hours)

    return app


async def prune_finished_jobs(app: App, *, keep_hours: int) -> None:
    """Delete the queue's finished jobs (succeeded, failed, cancelled, aborted) whose last event
    is older than `keep_hours`, with their events: procrastinate's own `delete_old_jobs` (its
    trigger unlinks a periodic defer row from a deleted job). Jobs to run or running stay."""
    await app.job_manager.delete_old_jobs(
        nb_hours=keep_hours, include_failed=True, include_cancelled=True, include_aborted=True
    )


class ProcrastinateEngine:
    """FireEngine and TaskEngine on procrastinate."""

    name = "procrastinate"

    def __init__(self, app: App) -> None:
        self.app = app

    async def defer_fire(
        self,
        job_id: str,
        scheduled_for: datetime,
        *,
        manual: bool = False,
        requested_by: str | None = None,
    ) -> bool:
        timestamp = int(scheduled_for.timestamp())
        kwargs: dict[str, Any] = {
            "timestamp": timestamp,
            "job_id": job_id,
            "scheduled_for": scheduled_for.isoformat(),
            "manual": manual,
            "requested_by": requested_by,
        }
        task = self.app.tasks[FIRE_TASK]
        if manual:
            await task.defer_async(**kwargs)
            return True
        job = task.configure(task_kwargs=kwargs).job
        deferred = await self.app.job_manager.defer_periodic_job(
            job, periodic_id=job_id, defer_timestamp=timestamp
        )
        return deferred is not None

    async def submit(self, tasks: Sequence[InvestorTask]) -> None:
        investor = self.app.tasks[INVESTOR_TASK]
        jobs = [
            investor.configure(
                lock=f"investor:{t.investor}",
                task_kwargs={
                    "kind": t.kind,
                    "investor": t.investor,
                    "job_id": t.job_id,
                    "scheduled_for": t.scheduled_for.isoformat(),
                    "arg": t.arg,
                },
            ).job
            for t in tasks
        ]
        # Each job carries its own lock, so a whole fire is a few statements (one per chunk),
        # not one per investor.
        for start in range(0, len(jobs), DEFER_CHUNK):
            await self.app.job_manager.batch_defer_jobs_async(jobs[start : start + DEFER_CHUNK])
        if len(jobs) >= ANALYZE_AFTER:
            # Workers' connections keep the plan of procrastinate's fetch made while the queue
            # was small (a fresh database, the first big fire): with thousands of jobs waiting,
            # each fetch then tested every one of them for its lock (PostgreSQL at 0.73 cores
            # through a 2,000-investor fire, 0.06 once planned on real numbers). ANALYZE
            # refreshes the table's statistics and so invalidates those plans on every
            # connection; autovacuum would too, but a minute or more later, and only when on.
            await self.app.connector.execute_query_async("ANALYZE procrastinate_jobs")


PINNED = importlib.metadata.version("procrastinate")
# A schema made before its version was recorded was made by the only release pinned then.
UNRECORDED = "3.10.0"
MIGRATIONS = Path(SchemaManager.get_migrations_path())
_STAMP = re.compile(r"procrastinate (\d+\.\d+\.\d+)")
_MIGRATION = re.compile(r"(\d+)\.(\d+)\.(\d+)_\d+_.*\.sql")


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


def pending_migrations(
    applied: str, pinned: str = PINNED, directory: Path = MIGRATIONS
) -> list[Path]:
    """procrastinate's own migration files that take a schema of release `applied` to
    `pinned`, in order (pre before post within a release, as their names sort)."""
    low, high = _version(applied), _version(pinned)
    found = []
    for path in directory.glob("*.sql"):
        m = _MIGRATION.fullmatch(path.name)
        if m is not None and low < tuple(int(g) for g in m.groups()) <= high:
            found.append(path)
    return sorted(found, key=lambda p: p.name)


async def apply_schema(
    url: str,
    *,
    search_path: str | None = None,
    pinned: str = PINNED,
    migrations: Path = MIGRATIONS,
) -> str:
    """Create procrastinate's tables and functions, or bring them to the pinned release with
    procrastinate's own migration files (a deploy step: `db upgrade`, workers stopped across a
    procrastinate upgrade). The release a schema is at is recorded as the comment of
    `procrastinate_jobs`. Serialised by an advisory lock; returns what it did."""
    import psycopg

    options = f"-c search_path={search_path}" if search_path else ""
    async with await psycopg.AsyncConnection.connect(
        conninfo(url), options=options, autocommit=True
    ) as conn:
        await conn.execute("SELECT pg_advisory_lock(hashtext('orchestrator.procrastinate'))")
        try:
            cur = await conn.execute(
                "SELECT to_regclass('procrastinate_jobs') IS NOT NULL, "
                "obj_description(to_regclass('procrastinate_jobs'), 'pg_class')"
            )
            row = await cur.fetchone()
            if row is None or not row[0]:
                async with conn.transaction():
                    await conn.execute(SchemaManager.get_schema())
                    await _stamp(conn, pinned)
                log.info("tasks.schema_created", procrastinate=pinned)
                return f"created at procrastinate {pinned}"
            stamp = _STAMP.fullmatch(row[1] or "")
            applied = stamp.group(1) if stamp else UNRECORDED
            if _version(applied) > _version(pinned):
                raise ConfigError(
                    f"the task queue's schema is at procrastinate {applied}, newer than this "
                    f"release's {pinned}: upgrade the service instead"
                )
            if _version(applied) == _version(pinned):
                return f"current at procrastinate {pinned}"
            files = pending_migrations(applied, pinned, migrations)
            # One transaction per release, stamped with it: a failure leaves the schema at the
            # last release fully applied, and the next `db upgrade` goes on from there.
            by_release: dict[str, list[Path]] = {}
            for path in files:
                by_release.setdefault(path.name.split("_", 1)[0], []).append(path)
            for release, paths in by_release.items():
                async with conn.transaction():
                    for path in paths:
                        await conn.execute(path.read_text(encoding="utf-8"))
                    await _stamp(conn, ".".join(str(n) for n in _version(release)))
            await _stamp(conn, pinned)
            log.info(
                "tasks.schema_upgraded",
                procrastinate_from=applied,
                procrastinate_to=pinned,
                migrations=[p.name for p in files],
            )
            return f"upgraded from procrastinate {applied} to {pinned} ({len(files)} migrations)"
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext('orchestrator.procrastinate'))")


async def _stamp(conn: Any, version: str) -> None:
    if not re.fullmatch(r"\d+\.\d+\.\d+", version):
        raise ValueError(f"not a release number: {version!r}")
    await conn.execute(f"COMMENT ON TABLE procrastinate_jobs IS 'procrastinate {version}'")


async def run_worker(
    app: App,
    *,
    name: str,
    concurrency: int,
    heartbeat_seconds: float = 10.0,
    stalled_after: float = 30.0,
    install_signal_handlers: bool = False,
    shutdown_grace: float | None = None,
    poll_seconds: float = 1.0,
) -> None:
    """Run one worker until cancelled or signalled; meanwhile retry stalled jobs of dead ones.

    Graceful shutdown (SIGTERM/SIGINT with `install_signal_handlers`, or cancellation): stop
    taking jobs and wait for the running ones (up to `shutdown_grace` seconds when given).
    """

    async def reap() -> None:
        while True:
            await asyncio.sleep(heartbeat_seconds)
            try:
                stalled = list(
                    await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after)
                )
            except Exception as e:
                log.warning("tasks.stall_check_failed", error=f"{type(e).__name__}: {e}")
                continue
            for job in stalled:
                with contextlib.suppress(ProcrastinateException, Exception):
                    await app.job_manager.retry_job(job)
                    log.warning(
                        "tasks.stalled_job_retried",
                        job_id=job.id,
                        task=job.task_name,
                        lock=job.lock,
                        worker=name,
                    )

    reaper = asyncio.create_task(reap(), name="stalled-job reaper")
    options: dict[str, Any] = {
        "name": name,
        "concurrency": concurrency,
        "install_signal_handlers": install_signal_handlers,
        "update_heartbeat_interval": heartbeat_seconds,
        "stalled_worker_timeout": stalled_after,
        "listen_notify": True,
        # A task waiting on its investor's lock gets no notification when the lock frees (only
        # new jobs notify), so the poll interval bounds that wait: 1 s, not procrastinate's 5 s.
        "fetch_job_polling_interval": poll_seconds,
    }
    if shutdown_grace is not None:
        options["shutdown_graceful_timeout"] = shutdown_grace
    log.info("tasks.worker_started", worker=name, concurrency=concurrency)
    try:
        await app.run_worker_async(**options)
    finally:
        reaper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reaper
        log.info("tasks.worker_stopped", worker=name)
