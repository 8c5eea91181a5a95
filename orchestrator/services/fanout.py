"""Fan-out of a fire into investor tasks, and the runner every engine uses to execute one.

`FanOut` records how many tasks a fire holds *before* any can start, then hands them to the
engine. `InvestorTaskRunner` runs one task: it skips an investor already recorded for this fire
(a retry after its worker died, or a duplicate delivery), runs the per-investor function, and
records the outcome exactly once. `InProcessEngine` is the embedded default's engine: the same
runner, now, in this process, a bounded number at a time, one task per investor at once.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from orchestrator.domain.errors import SourceError
from orchestrator.ports.scheduling import ItemOutcome, ItemStatus, JobRunStore
from orchestrator.ports.tasks import FannedOut, InvestorTask, InvestorWork, TaskEngine, TaskKind
from orchestrator.ports.upstream import Clock
from orchestrator.scheduling import JobFire
from orchestrator.services.snapshots import describe

log = structlog.get_logger(__name__)


class RetryLater(Exception):
    """Raised by the runner so that a queueing engine retries the task (with backoff)."""


def retryable(error: BaseException) -> bool:
    """Failures worth another attempt: the upstream was unavailable or throttled us."""
    return isinstance(error, SourceError) and error.retryable


@dataclass
class FanOut:
    """Called by a fire's action: one task per investor, progress visible from the start."""

    store: JobRunStore
    engine: TaskEngine

    async def __call__(
        self, fire: JobFire, kind: TaskKind, investors: Sequence[str], arg: str | None = None
    ) -> FannedOut:
        unique = list(dict.fromkeys(investors))
        await self.store.set_total(
            fire.job_id, fire.scheduled_for, len(unique), engine=self.engine.name
        )
        tasks = [
            InvestorTask(
                kind=kind,
                investor=investor,
                job_id=fire.job_id,
                scheduled_for=fire.scheduled_for,
                arg=arg,
            )
            for investor in unique
        ]
        log.info(
            "tasks.fanned_out",
            job_id=fire.job_id,
            scheduled_for=fire.scheduled_for.isoformat(),
            kind=kind,
            total=len(tasks),
            engine=self.engine.name,
        )
        await self.engine.submit(tasks)
        return FannedOut(len(tasks))


class InvestorTaskRunner:
    """Runs one investor task and records its outcome once."""

    def __init__(self, work: InvestorWork, store: JobRunStore, clock: Clock, worker: str) -> None:
        self._work = work
        self._store = store
        self._clock = clock
        self.worker = worker

    async def run(self, task: InvestorTask, *, may_retry: bool) -> ItemOutcome:
        """Raises RetryLater (only when `may_retry`) for a retryable failure; otherwise records
        success or failure and returns it. An investor already recorded is not run again."""
        done = await self._store.item(task.job_id, task.scheduled_for, task.investor)
        if done is not None:
            log.info("tasks.already_done", investor=task.investor, job_id=task.job_id)
            return done
        started = time.perf_counter()
        status: ItemStatus = "succeeded"
        try:
            detail = await self._work.run(task)
        except Exception as e:
            if may_retry and retryable(e):
                log.warning(
                    "tasks.retry",
                    investor=task.investor,
                    kind=task.kind,
                    attempt=task.attempt,
                    error=describe(e),
                )
                raise RetryLater(describe(e)) from e
            status, detail = "failed", describe(e)
            log.warning("tasks.failed", investor=task.investor, kind=task.kind, error=detail)
        outcome = ItemOutcome(
            investor=task.investor,
            kind=task.kind,
            status=status,
            finished_at=self._clock.now(),
            duration_ms=round((time.perf_counter() - started) * 1000),
            attempts=task.attempt + 1,
            worker=self.worker,
            detail=detail,
        )
        await self._store.record_item(task.job_id, task.scheduled_for, outcome)
        return outcome


class InProcessEngine:
    """The embedded default: run every task here and now (no queue, no extra process)."""

    name = "in-process"

    def __init__(self, runner: InvestorTaskRunner, *, concurrency: int = 8) -> None:
        self._runner = runner
        self._gate = asyncio.Semaphore(concurrency)
        # One investor's work never runs twice at once, even across overlapping fires.
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def submit(self, tasks: Sequence[InvestorTask]) -> None:
        async def one(task: InvestorTask) -> None:
            async with self._gate, self._locks[task.investor]:
                try:
                    await self._runner.run(task, may_retry=False)
                except Exception:  # recording failed (database down): others still run
                    log.exception("tasks.not_recorded", investor=task.investor)

        await asyncio.gather(*(one(t) for t in tasks))
