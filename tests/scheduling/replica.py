"""One scheduler replica for the multi-process test (`python -m tests.scheduling.replica`).

Environment: REPLICA_DB_URL, REPLICA_SCHEMA (PostgreSQL search_path), REPLICA_NAME, REPLICA_OUT
(file the job appends "<scheduled_for> <replica>" to, once per execution), REPLICA_UNTIL (epoch
seconds at which to stop). Logs are JSON on stdout.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from adapters.db.engine import Database
from adapters.db.jobs import DbJobRunStore
from orchestrator.calendar import KrxCalendar
from orchestrator.clock import SystemClock
from orchestrator.logging import configure_logging
from orchestrator.scheduling import JobFire, JobSpec, Scheduler, SchedulerSettings


def _append(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(line + "\n")
        f.flush()


async def main() -> None:
    configure_logging("INFO", "json")
    name = os.environ["REPLICA_NAME"]
    out = Path(os.environ["REPLICA_OUT"])
    until = float(os.environ["REPLICA_UNTIL"])
    db = Database(
        os.environ["REPLICA_DB_URL"],
        connect_args={"server_settings": {"search_path": os.environ["REPLICA_SCHEMA"]}},
    )

    async def tick(fire: JobFire) -> None:
        _append(out, f"{fire.scheduled_for.isoformat()} {name}")

    settings = SchedulerSettings(
        jobs=(JobSpec(id="tick", action="tick", interval_seconds=1, misfire_grace_seconds=5),)
    )
    scheduler = Scheduler(
        settings,
        actions={"tick": tick},
        store=DbJobRunStore(db),
        calendar=KrxCalendar(),
        clock=SystemClock(),
        replica=name,
    )
    await scheduler.start()
    try:
        await asyncio.sleep(max(0.0, until - time.time()))
    finally:
        await scheduler.shutdown(grace_seconds=5)
        await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
