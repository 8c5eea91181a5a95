"""The executor that hands APScheduler's nominal run time to the claim."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog
from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
)
from apscheduler.executors.asyncio import AsyncIOExecutor

from orchestrator.ports.scheduling import JobRun
from orchestrator.ports.upstream import Clock
from orchestrator.scheduling.fires import nominal

log = structlog.get_logger(__name__)


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
