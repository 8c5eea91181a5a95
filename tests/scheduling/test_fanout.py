"""Fires fanned out per investor, run in-process (the embedded default's engine).

The same per-investor functions a procrastinate worker runs, here and now: progress (done /
failed / total, per-investor outcome) lands in the run history, an investor already recorded
for a fire is never run again, one investor's work never runs twice at once, and a fire still
running when the next one is due is reported.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest
from structlog.testing import capture_logs

from adapters.db.engine import Database
from adapters.db.jobs import DbJobRunStore
from adapters.fake import FakeClock
from orchestrator.calendar import KrxCalendar
from orchestrator.domain.errors import RequestRefused, SourceUnavailable
from orchestrator.domain.timeutil import KST
from orchestrator.ports.tasks import InvestorTask
from orchestrator.scheduling import JobFire, JobSpec, Scheduler, SchedulerSettings
from orchestrator.services.fanout import FanOut, InProcessEngine, InvestorTaskRunner, RetryLater
from tests.support.databases import statements

START = datetime(2026, 6, 4, 10, 0, 0, tzinfo=KST)


class Work:
    """Per-investor work that records calls, fails for chosen investors, and can be held."""

    def __init__(self, clock: FakeClock, *, fail: dict[str, Exception] | None = None) -> None:
        self.calls: list[tuple[str, str]] = []
        self.fail = fail or {}
        self.clock = clock
        self.running: set[str] = set()
        self.overlaps = 0
        self.gate: asyncio.Event | None = None
        self.started = asyncio.Event()

    async def run(self, task: InvestorTask) -> str | None:
        if task.investor in self.running:
            self.overlaps += 1
        self.running.add(task.investor)
        try:
            self.calls.append((task.kind, task.investor))
            self.started.set()
            if self.gate is not None:
                await self.gate.wait()
            if task.investor in self.fail:
                raise self.fail[task.investor]
            return "clean"
        finally:
            self.running.discard(task.investor)


def build(
    db: Database, clock: FakeClock, work: Work, investors: list[str], *, interval: int = 300
) -> Scheduler:
    store = DbJobRunStore(db)
    engine = InProcessEngine(InvestorTaskRunner(work, store, clock, worker="w1"), concurrency=4)
    fanout = FanOut(store, engine)

    async def reconcile(fire: JobFire) -> object:
        return await fanout(fire, "reconcile", investors)

    return Scheduler(
        SchedulerSettings(
            jobs=(JobSpec(id="recon", action="reconcile", interval_seconds=interval),)
        ),
        actions={"reconcile": reconcile},
        store=store,
        calendar=KrxCalendar(),
        clock=clock,
        replica="a",
    )


async def test_a_fire_runs_one_task_per_investor_with_progress(db: Database) -> None:
    clock = FakeClock(START)
    investors = [f"u{i:03d}" for i in range(12)]
    work = Work(clock, fail={"u003": RequestRefused("kis", "refused by the broker")})
    scheduler = build(db, clock, work, investors)

    run = await scheduler.run_fire("recon", START)

    assert run is not None
    assert sorted(work.calls) == sorted(("reconcile", i) for i in investors)
    (stored,) = await scheduler.runs("recon")
    assert stored.status == "failed"  # one investor failed: the fire says so
    assert (stored.total, stored.done, stored.failed) == (12, 11, 1)
    assert stored.engine == "in-process"
    by_investor = {i.investor: i for i in await scheduler.outcomes("recon", START, limit=100)}
    assert set(by_investor) == set(investors)
    assert by_investor["u003"].status == "failed"
    assert "refused by the broker" in (by_investor["u003"].detail or "")
    assert by_investor["u000"].status == "succeeded"
    assert by_investor["u000"].detail == "clean"
    failed = await scheduler.outcomes("recon", START, limit=100, status="failed")
    assert [i.investor for i in failed] == ["u003"]
    shown = stored.as_dict()
    assert shown["progress"] == {"total": 12, "done": 11, "failed": 1}
    assert "investors" not in shown  # the history is counts only
    assert shown["overran"] is False


async def test_the_run_history_reads_no_per_investor_outcome(db: Database) -> None:
    """The jobs list of a fire fanned out to many investors is one read of the runs: not one
    statement touches their outcomes (they are read a page at a time, on request)."""
    clock = FakeClock(START)
    investors = [f"u{i:03d}" for i in range(40)]
    scheduler = build(db, clock, Work(clock), investors)
    await scheduler.run_fire("recon", START)

    with statements(db) as seen:
        (listed,) = await scheduler.runs("recon")
        one = await scheduler.run("recon", START)
    assert one is not None
    assert (listed.total, listed.done, listed.failed) == (40, 40, 0)
    assert one.as_dict() == listed.as_dict()
    assert seen, "the listener saw no statement: the check below would prove nothing"
    assert [s for s in seen if "job_run_items" in s] == []
    page = await scheduler.outcomes("recon", START, limit=15, offset=30)
    assert [i.investor for i in page] == investors[30:40]


async def test_all_succeeding_investors_make_a_succeeded_fire(db: Database) -> None:
    clock = FakeClock(START)
    scheduler = build(db, clock, Work(clock), ["a", "b"])
    await scheduler.run_fire("recon", START)
    (stored,) = await scheduler.runs("recon")
    assert (stored.status, stored.done, stored.failed, stored.error) == ("succeeded", 2, 0, None)


async def test_an_investor_recorded_for_a_fire_is_not_run_again(db: Database) -> None:
    clock = FakeClock(START)
    work = Work(clock)
    store = DbJobRunStore(db)
    runner = InvestorTaskRunner(work, store, clock, worker="w1")
    scheduler = build(db, clock, work, ["a", "b"])
    await scheduler.run_fire("recon", START)
    key = (await scheduler.runs("recon"))[0].scheduled_for

    # A redelivered task (its worker died after recording) is a no-op.
    again = await runner.run(
        InvestorTask(kind="reconcile", investor="a", job_id="recon", scheduled_for=key, attempt=1),
        may_retry=True,
    )
    assert again.attempts == 1
    assert work.calls.count(("reconcile", "a")) == 1
    (stored,) = await scheduler.runs("recon")
    assert (stored.done, stored.total) == (2, 2)


async def test_retryable_failures_are_handed_back_to_the_engine(db: Database) -> None:
    clock = FakeClock(START)
    work = Work(clock, fail={"a": SourceUnavailable("openbanking", "503 from the relay")})
    store = DbJobRunStore(db)
    runner = InvestorTaskRunner(work, store, clock, worker="w1")
    task = InvestorTask(kind="reconcile", investor="a", job_id="recon", scheduled_for=START)
    assert await store.claim("recon", START, "a", started_at=START)
    await store.set_total("recon", START, 1, engine="procrastinate")

    with pytest.raises(RetryLater):
        await runner.run(task, may_retry=True)
    assert await store.item("recon", START, "a") is None  # nothing recorded: it will run again

    last = await runner.run(task, may_retry=False)  # the engine's last attempt
    assert last.status == "failed"
    run = await store.run("recon", START)
    assert run is not None
    assert (run.status, run.failed) == ("failed", 1)


async def test_one_investor_never_runs_twice_at_once(db: Database) -> None:
    clock = FakeClock(START)
    work = Work(clock)
    work.gate = asyncio.Event()
    store = DbJobRunStore(db)
    engine = InProcessEngine(InvestorTaskRunner(work, store, clock, worker="w1"), concurrency=8)
    for when in (START, START.replace(minute=5)):
        assert await store.claim("recon", when, "a", started_at=when)
        await store.set_total("recon", when, 1, engine=engine.name)
    tasks = [
        InvestorTask(kind="reconcile", investor="same", job_id="recon", scheduled_for=when)
        for when in (START, START.replace(minute=5))
    ]
    both = asyncio.gather(engine.submit(tasks[:1]), engine.submit(tasks[1:]))
    await asyncio.wait_for(work.started.wait(), timeout=10)
    for _ in range(20):
        await asyncio.sleep(0)
    assert len(work.calls) == 1  # the second fire's task waits for the first
    assert engine._locks["same"].locked()
    work.gate.set()
    await both
    assert len(work.calls) == 2
    assert work.overlaps == 0


async def test_a_fire_longer_than_its_interval_is_reported(db: Database) -> None:
    clock = FakeClock(START)
    work = Work(clock)
    work.gate = asyncio.Event()
    scheduler = build(db, clock, work, ["a"], interval=60)
    first = asyncio.create_task(scheduler.run_fire("recon", START))
    await asyncio.wait_for(work.started.wait(), timeout=10)
    clock.advance(61)  # the next fire is due and the first is still running
    (running,) = await scheduler.runs("recon")
    assert running.status == "running"
    assert running.overran is True
    with capture_logs() as logs:
        second = asyncio.create_task(scheduler.run_fire("recon", START.replace(minute=1)))
        for _ in range(500):  # each look is a database round trip, so the fire progresses
            if len(await scheduler.runs("recon")) == 2:
                break
    overran = [e for e in logs if e["event"] == "scheduler.fire_overran"]
    assert len(overran) == 1
    assert overran[0]["total"] == 1
    assert overran[0]["done"] == 0
    work.gate.set()
    await asyncio.gather(first, second)
    runs = await scheduler.runs("recon")
    assert [r.overran for r in runs] == [False, True]  # newest first: only the first overran


async def test_a_fire_that_ends_within_its_interval_did_not_overrun(db: Database) -> None:
    clock = FakeClock(START)
    scheduler = build(db, clock, Work(clock), ["a"], interval=60)
    await scheduler.run_fire("recon", START)
    clock.advance(3600)  # long after: a finished run is judged by its own end
    (run,) = await scheduler.runs("recon")
    assert run.overran is False
