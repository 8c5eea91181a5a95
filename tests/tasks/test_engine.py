"""procrastinate behind the ports, in this process, on the real PostgreSQL.

Two schedulers (replicas) offer the same fire: the engine makes one job of it; the worker runs
it and its investor tasks (one per investor, locked per investor); a retryable failure is
retried with the service's backoff; the run history shows the progress.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest

from adapters.db.engine import Database
from adapters.db.jobs import DbJobRunStore
from adapters.tasks import BackoffRetry, ProcrastinateEngine, TaskHost, create_task_app, run_worker
from orchestrator.calendar import KrxCalendar
from orchestrator.clock import SystemClock
from orchestrator.domain.errors import SourceUnavailable
from orchestrator.domain.timeutil import KST
from orchestrator.ports.tasks import InvestorTask
from orchestrator.scheduling import JobFire, JobSpec, Scheduler, SchedulerSettings
from orchestrator.services.fanout import FanOut, InvestorTaskRunner, RetryLater
from tests.support.databases import fresh_database

FIRE = datetime(2026, 6, 4, 10, 0, 0, tzinfo=KST)


class Work:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.flaky: set[str] = set()

    async def run(self, task: InvestorTask) -> str | None:
        self.calls[task.investor] += 1
        if task.investor in self.flaky and task.attempt == 0:
            raise SourceUnavailable("kis", "503 once")
        return "clean"


@pytest.fixture
async def pg(tmp_path: Path) -> AsyncIterator[Database]:
    async with fresh_database("postgres", tmp_path) as db:
        yield db


def scheduler_for(
    db: Database, engine: ProcrastinateEngine, replica: str, fanout: FanOut
) -> Scheduler:
    async def reconcile(fire: JobFire) -> object:
        return await fanout(fire, "reconcile", [f"u{i:02d}" for i in range(20)])

    return Scheduler(
        SchedulerSettings(jobs=(JobSpec(id="recon", action="reconcile", interval_seconds=300),)),
        actions={"reconcile": reconcile},
        store=DbJobRunStore(db),
        calendar=KrxCalendar(),
        clock=SystemClock(),
        replica=replica,
        engine=engine,
    )


def test_backoff_follows_the_service_rule() -> None:
    retry = BackoffRetry(max_attempts=8)
    assert [retry.wait_seconds(n) for n in range(7)] == [1, 2, 4, 8, 16, 30, 30]


@pytest.mark.postgres
async def test_one_fire_offered_by_two_replicas_runs_once_per_investor(pg: Database) -> None:
    store = DbJobRunStore(pg)
    work = Work()
    work.flaky = {"u07"}
    host = TaskHost(runner=InvestorTaskRunner(work, store, SystemClock(), worker="w1"), worker="w1")
    app = create_task_app(pg.url, host, search_path=pg.search_path)
    async with app.open_async():
        engine = ProcrastinateEngine(app)
        fanout = FanOut(store, engine)
        replicas = [scheduler_for(pg, engine, name, fanout) for name in ("a", "b")]
        host.scheduler = replicas[0]
        offers = await asyncio.gather(*(r.run_fire("recon", FIRE) for r in replicas))
        assert offers == [None, None]  # handed to the engine, not run here
        worker = asyncio.create_task(
            run_worker(app, name="w1", concurrency=4, heartbeat_seconds=1, stalled_after=5)
        )
        try:
            async with asyncio.timeout(60):
                while True:
                    run = await store.run("recon", FIRE)
                    if run is not None and run.status != "running":
                        break
                    await asyncio.sleep(0.2)
        finally:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
        jobs = await app.job_manager.list_jobs_async(task="orchestrator.fire")
        assert len(list(jobs)) == 1  # two offers, one job
    assert run.status == "succeeded"
    assert (run.total, run.done, run.failed, run.engine) == (20, 20, 0, "procrastinate")
    outcomes = await store.items("recon", FIRE, limit=100)
    assert {i.investor for i in outcomes} == {f"u{i:02d}" for i in range(20)}
    # The flaky investor ran twice (503 then retried after 1 s); every other investor once.
    assert work.calls["u07"] == 2
    assert {c for i, c in work.calls.items() if i != "u07"} == {1}
    flaky = next(i for i in outcomes if i.investor == "u07")
    assert flaky.attempts == 2


def test_retry_strategy_retries_only_what_the_runner_hands_back() -> None:
    from procrastinate.jobs import Job

    retry = BackoffRetry(max_attempts=3)
    job = Job(id=1, queue="default", lock=None, queueing_lock=None, task_name="t", attempts=0)
    assert retry.get_retry_decision(exception=RetryLater("x"), job=job) is not None
    assert retry.get_retry_decision(exception=ValueError("bug"), job=job) is None
    last = Job(id=1, queue="default", lock=None, queueing_lock=None, task_name="t", attempts=2)
    assert retry.get_retry_decision(exception=RetryLater("x"), job=last) is None


@pytest.mark.postgres
async def test_run_now_on_the_engine_is_run_by_a_worker(pg: Database) -> None:
    store = DbJobRunStore(pg)
    work = Work()
    host = TaskHost(runner=InvestorTaskRunner(work, store, SystemClock(), worker="w1"), worker="w1")
    app = create_task_app(pg.url, host, search_path=pg.search_path)
    async with app.open_async():
        engine = ProcrastinateEngine(app)
        scheduler = scheduler_for(pg, engine, "a", FanOut(store, engine))
        host.scheduler = scheduler
        claimed = await scheduler.trigger("recon", by="operator")
        assert claimed.manual
        worker = asyncio.create_task(
            run_worker(app, name="w1", concurrency=4, heartbeat_seconds=1, stalled_after=5)
        )
        try:
            async with asyncio.timeout(60):
                while True:
                    run = await store.run("recon", claimed.scheduled_for)
                    if run is not None and run.status != "running":
                        break
                    await asyncio.sleep(0.2)
        finally:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
    assert run.manual
    assert run.requested_by == "operator"
    assert (run.status, run.done, run.total) == ("succeeded", 20, 20)
    assert set(work.calls.values()) == {1}
