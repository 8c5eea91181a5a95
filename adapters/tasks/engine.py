"""procrastinate behind our FireEngine / TaskEngine ports.

Two tasks:
- `orchestrator.fire` (one per scheduled fire): every replica's scheduler offers each fire through
  `JobManager.defer_periodic_job`, the engine's own once-per-fire guarantee (a unique row per
  task, periodic id and timestamp in `procrastinate_periodic_defers`); one offer becomes a job.
  The worker that takes it runs the job's action, which fans out:
- `orchestrator.investor` (one per investor and fire), deferred with `lock="investor:<id>"`, so
  one investor's work never runs twice at once on any worker, and retried with our backoff
  (1 s, 2 s, 4 s ... capped at 30 s) when it failed for a retryable reason.

A worker killed with its jobs in `doing` stops sending heartbeats; `run_worker` has every worker
retry the jobs of workers silent for longer than `stalled_after` seconds (procrastinate's
`get_stalled_jobs` + `retry_job`), so a fire or investor task whose worker died runs again on
another one, and the task's own idempotency makes the second run harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from procrastinate import App, PsycopgConnector, RetryDecision
from procrastinate.exceptions import ProcrastinateException
from procrastinate.job_context import JobContext
from procrastinate.jobs import Job
from procrastinate.retry import BaseRetryStrategy
from procrastinate.schema import SchemaManager
from sqlalchemy.engine import make_url

from orchestrator.ports.tasks import InvestorTask, TaskKind
from orchestrator.scheduling import Scheduler
from orchestrator.services.fanout import InvestorTaskRunner, RetryLater

log = structlog.get_logger(__name__)

FIRE_TASK = "orchestrator.fire"
INVESTOR_TASK = "orchestrator.investor"
MAX_ATTEMPTS = 5


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
) -> App:
    """The procrastinate App for the database at `url` (same database as the service)."""
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

    return app


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
        by_lock: dict[str, list[dict[str, Any]]] = {}
        for t in tasks:
            by_lock.setdefault(f"investor:{t.investor}", []).append(
                {
                    "kind": t.kind,
                    "investor": t.investor,
                    "job_id": t.job_id,
                    "scheduled_for": t.scheduled_for.isoformat(),
                    "arg": t.arg,
                }
            )
        # One batch insert per lock value (the lock is a job option, not an argument); most
        # fires have one task per investor, so group the common case into a few statements.
        for lock, kwargs in by_lock.items():
            await investor.configure(lock=lock).batch_defer_async(*kwargs)


async def apply_schema(url: str, *, search_path: str | None = None) -> bool:
    """Create procrastinate's tables and functions unless present (a deploy step: `db
    upgrade`). True when it applied them. Serialised by an advisory lock."""
    import psycopg

    options = f"-c search_path={search_path}" if search_path else ""
    async with await psycopg.AsyncConnection.connect(
        conninfo(url), options=options, autocommit=True
    ) as conn:
        await conn.execute("SELECT pg_advisory_lock(hashtext('orchestrator.procrastinate'))")
        try:
            cur = await conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")
            row = await cur.fetchone()
            if row is not None and row[0]:
                return False
            await conn.execute(SchemaManager.get_schema())
            return True
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext('orchestrator.procrastinate'))")


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
