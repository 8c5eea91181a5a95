"""One scheduler replica for the multi-process test (`python -m tests.scheduling.replica`).

The replica never sleeps and never reads the wall clock: it runs on a FakeClock and is driven one
fire at a time. Each `tick` line on stdin moves its clock to its own trigger's next fire time
(plus the replica's skew) and fires that job through `Scheduler.run_fire`, the method the
scheduler calls at every fire; it then logs `replica.fire_done` with the nominal time and
whether this replica ran the fire or lost the claim. End of stdin stops it.

Environment: REPLICA_DB_URL, REPLICA_SCHEMA (PostgreSQL search_path), REPLICA_NAME, REPLICA_OUT
(file the job appends "<scheduled_for> <replica>" to, once per execution), REPLICA_START (ISO
instant the replica's clock starts at), REPLICA_SKEW_SECONDS (how far past each fire time its
clock reads when it fires) and REPLICA_NOISE_US (microseconds of float noise added to the fire
time it hands over, as a trigger computing it on another machine would). Logs are JSON on stdout.
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import datetime, timedelta
from pathlib import Path

import structlog

from adapters.db.engine import Database
from adapters.db.jobs import DbJobRunStore
from adapters.fake import FakeClock
from orchestrator.calendar import KrxCalendar
from orchestrator.logging import configure_logging
from orchestrator.scheduling import JobFire, JobSpec, Scheduler, SchedulerSettings

JOB = "tick"


def _append(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(line + "\n")
        f.flush()


async def main() -> None:
    configure_logging("INFO", "json")
    log = structlog.get_logger("tests.scheduling.replica")
    name = os.environ["REPLICA_NAME"]
    out = Path(os.environ["REPLICA_OUT"])
    clock = FakeClock(datetime.fromisoformat(os.environ["REPLICA_START"]))
    skew = float(os.environ["REPLICA_SKEW_SECONDS"])
    noise = timedelta(microseconds=int(os.environ["REPLICA_NOISE_US"]))
    db = Database(
        os.environ["REPLICA_DB_URL"],
        connect_args={"server_settings": {"search_path": os.environ["REPLICA_SCHEMA"]}},
    )

    async def tick(fire: JobFire) -> None:
        _append(out, f"{fire.scheduled_for.isoformat()} {name}")

    store = DbJobRunStore(db)
    settings = SchedulerSettings(
        jobs=(JobSpec(id=JOB, action="tick", interval_seconds=1, misfire_grace_seconds=5),)
    )
    scheduler = Scheduler(
        settings,
        actions={"tick": tick},
        store=store,
        calendar=KrxCalendar(),
        clock=clock,
        replica=name,
    )
    loop = asyncio.get_running_loop()
    try:
        await store.states()  # connected before it says it is ready
        log.info("replica.ready", replica=name)
        while (await loop.run_in_executor(None, sys.stdin.readline)).strip() == "tick":
            due = scheduler.next_fire_time(JOB)
            assert due is not None
            clock.set(due + timedelta(seconds=skew))
            run = await scheduler.run_fire(JOB, due + noise)
            log.info(
                "replica.fire_done",
                replica=name,
                scheduled_for=due.isoformat(),
                outcome="lost" if run is None else run.status,
            )
    finally:
        await scheduler.shutdown(grace_seconds=5)
        await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
