"""One replica of the engine replica suite (`python -m tests.scheduling.engine_replica`).

Like `serve` on PostgreSQL: a scheduler that offers each fire to procrastinate, and a worker in
the same process. The 1-second `tick` job fans out to three investors; each investor task takes
REPLICA_WORK_SECONDS and appends "start|end <scheduled_for> <investor> <replica>" to
REPLICA_OUT. At REPLICA_UNTIL the scheduler stops; the worker drains for REPLICA_DRAIN seconds
and stops gracefully. Logs are JSON on stdout.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from adapters.db.engine import Database
from adapters.db.jobs import DbJobRunStore
from adapters.tasks import ProcrastinateEngine, TaskHost, create_task_app, run_worker
from orchestrator.calendar import KrxCalendar
from orchestrator.clock import SystemClock
from orchestrator.logging import configure_logging
from orchestrator.ports.tasks import InvestorTask
from orchestrator.scheduling import JobFire, JobSpec, Scheduler, SchedulerSettings
from orchestrator.services.fanout import FanOut, InvestorTaskRunner

INVESTORS = ("i1", "i2", "i3")


def _append(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(line + "\n")
        f.flush()


class Tick:
    def __init__(self, out: Path, name: str, seconds: float) -> None:
        self.out, self.name, self.seconds = out, name, seconds

    async def run(self, task: InvestorTask) -> str | None:
        at = task.scheduled_for.isoformat()
        _append(self.out, f"start {at} {task.investor} {self.name}")
        await asyncio.sleep(self.seconds)
        _append(self.out, f"end {at} {task.investor} {self.name}")
        return "ok"


async def main() -> None:
    configure_logging("INFO", "json")
    name = os.environ["REPLICA_NAME"]
    out = Path(os.environ["REPLICA_OUT"])
    until = float(os.environ["REPLICA_UNTIL"])
    drain = float(os.environ.get("REPLICA_DRAIN", "8"))
    db = Database(
        os.environ["REPLICA_DB_URL"],
        connect_args={"server_settings": {"search_path": os.environ["REPLICA_SCHEMA"]}},
    )
    clock = SystemClock()
    store = DbJobRunStore(db)
    runner = InvestorTaskRunner(
        Tick(out, name, float(os.environ.get("REPLICA_WORK_SECONDS", "0.3"))),
        store,
        clock,
        worker=name,
    )
    host = TaskHost(runner=runner, worker=name)
    app = create_task_app(db.url, host, search_path=db.search_path)
    engine = ProcrastinateEngine(app)
    fanout = FanOut(store, engine)

    async def tick(fire: JobFire) -> object:
        return await fanout(fire, "reconcile", INVESTORS)

    scheduler = Scheduler(
        SchedulerSettings(
            jobs=(JobSpec(id="tick", action="tick", interval_seconds=1, misfire_grace_seconds=5),)
        ),
        actions={"tick": tick},
        store=store,
        calendar=KrxCalendar(),
        clock=clock,
        replica=name,
        engine=engine,
    )
    host.scheduler = scheduler
    async with app.open_async():
        worker = asyncio.create_task(
            run_worker(
                app,
                name=name,
                concurrency=4,
                heartbeat_seconds=1,
                stalled_after=3,
                poll_seconds=0.2,
            )
        )
        await scheduler.start()
        try:
            await asyncio.sleep(max(0.0, until - time.time()))
        finally:
            await scheduler.shutdown(grace_seconds=5)
            await asyncio.sleep(drain)
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
    await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
