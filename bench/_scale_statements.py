"""Database round trips and client CPU of one investor's reconcile task, in this process.

The scale-out world (`bench._scale_world`) on PostgreSQL, sandboxes in their own processes; N
investor tasks run one after another through the service's `InvestorTaskRunner` (the code a
worker runs for each task, minus procrastinate's own two statements per job: fetch and finish).
SQLAlchemy events count, per investor: statements executed, transactions begun (BEGIN and
COMMIT: two round trips; none under AUTOCOMMIT) and pool checkouts (a pre-ping, when on, is
BEGIN + ";" + ROLLBACK on asyncpg), hence the round trips, and the statements that occur most
often. Also the process CPU per investor (client side: the sandboxes are apart).

    python -m bench._scale_statements [--investors 50] [--top 25] [--profile FILE] [--concurrency 1]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import re
import sys
import time
from collections import Counter
from typing import Any

from sqlalchemy import event

from adapters.db.engine import Database
from adapters.db.jobs import DbJobRunStore
from bench import _recon_world as world
from bench._scale_world import ScaleWork, build_world, prepare, scale_setup
from orchestrator.clock import SystemClock
from orchestrator.domain.timeutil import to_utc
from orchestrator.logging import configure_logging
from orchestrator.ports.tasks import InvestorTask
from orchestrator.services.fanout import InvestorTaskRunner

PG_URL = os.environ.get("BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


class Counts:
    def __init__(self, db: Database) -> None:
        self.statements: Counter[str] = Counter()
        self.begins = 0
        self.checkouts = 0
        sync = db.engine.sync_engine
        event.listen(sync, "before_cursor_execute", self._execute)
        event.listen(sync, "begin", self._begin)
        event.listen(sync.pool, "checkout", self._checkout)

    def _execute(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.statements[re.sub(r"\s+", " ", statement)[:110]] += 1

    def _begin(self, conn: Any) -> None:
        # Under AUTOCOMMIT the ORM's begin sends nothing; elsewhere it is BEGIN ... COMMIT.
        if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            self.begins += 1

    def _checkout(self, *_args: Any) -> None:
        self.checkouts += 1

    def reset(self) -> None:
        self.statements.clear()
        self.begins = 0
        self.checkouts = 0


async def run(investors: int, top: int, profile: str | None, concurrency: int) -> int:
    # As a worker logs (bench._scale_worker): warnings and up, JSON on stderr.
    configure_logging("WARNING", "json", stream=sys.stderr)
    async with scale_setup(PG_URL, investors, lifetime_seconds=1800) as (db, kis, ob):
        here = build_world(db, kis_url=kis.base_url, ob_url=ob.base_url, users=investors)
        await prepare(here, investors)
        store = DbJobRunStore(db)
        runner = InvestorTaskRunner(ScaleWork(here), store, SystemClock(), worker="bench")
        fire_at = to_utc(SystemClock().now()).replace(microsecond=0)
        await store.claim("reconcile-scale", fire_at, "bench", started_at=fire_at)
        await store.set_total("reconcile-scale", fire_at, investors, engine="bench")
        tasks = [
            InvestorTask("reconcile", world.user_id(i), "reconcile-scale", fire_at)
            for i in range(investors)
        ]
        # One warm-up investor: statement caches, pool connections, tokens read once.
        await runner.run(tasks[0], may_retry=False)
        counts = Counts(db)
        profiler = cProfile.Profile(time.process_time) if profile else None  # CPU, not wall
        cpu0, wall0 = time.process_time(), time.perf_counter()
        if profiler is not None:
            profiler.enable()
        gate = asyncio.Semaphore(concurrency)

        async def one(task: InvestorTask) -> None:
            async with gate:
                outcome = await runner.run(task, may_retry=False)
            if outcome.status != "succeeded":
                print(f"{task.investor}: {outcome.status} {outcome.detail}", file=sys.stderr)

        await asyncio.gather(*(one(t) for t in tasks[1:]))
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(str(profile))
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        n = investors - 1
        executed = sum(counts.statements.values())
        pings = counts.checkouts if db.engine.pool._pre_ping else 0
        trips = executed + 2 * counts.begins + 3 * pings
        print(f"investors: {n} ({concurrency} at a time, after one warm-up)")
        print(
            f"per investor: {executed / n:.1f} statements, {counts.begins / n:.1f} transactions "
            f"(BEGIN + COMMIT), {pings / n:.1f} pre-pings (3 round trips each on asyncpg), "
            f"{counts.checkouts / n:.1f} pool checkouts: {trips / n:.1f} round trips"
        )
        print(
            f"client CPU {cpu / n * 1000:.1f} ms per investor = {n / cpu:.1f} investors per "
            f"CPU-second; wall {wall / n * 1000:.1f} ms per investor"
        )
        print("most frequent statements (per investor):")
        for statement, count in counts.statements.most_common(top):
            print(f"  {count / n:5.1f}  {statement}")
        await here.close()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--investors", type=int, default=50)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--profile", help="cProfile the timed tasks into this file")
    parser.add_argument("--concurrency", type=int, default=1, help="tasks at once")
    a = parser.parse_args()
    if not 2 <= a.investors <= 2000:
        parser.error("--investors 2..2000")
    return asyncio.run(run(a.investors, a.top, a.profile, a.concurrency))


if __name__ == "__main__":
    sys.exit(main())
