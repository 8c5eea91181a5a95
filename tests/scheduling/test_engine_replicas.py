"""The replica suite on the task engine: three replica processes on the real PostgreSQL, a
1-second schedule, one replica killed with SIGKILL (chosen by a seeded draw) while it is running
an investor task of a fire.

Every fire of the grid is run exactly once (one run row, three investors recorded once each),
no fire is lost (no gap in the grid), none is left `running`, no engine job is left behind, and
an investor task run twice happened only because its first runner was the killed replica (a
task is retried only when its worker died). This is the "tick whose replica died" that stayed
running forever with the hand-made claim table.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from sqlalchemy import text

from adapters.db.jobs import DbJobRunStore
from tests.support.databases import PG_URL, fresh_database, require_postgres

ROOT = Path(__file__).resolve().parents[2]
RUN_SECONDS = 24
DRAIN_SECONDS = 10
NAMES = ("replica-a", "replica-b", "replica-c")
SEED = int(os.environ.get("REPLICA_SEED", "15"))


def _lines(path: Path) -> list[list[str]]:
    if not path.exists():
        return []
    return [line.split() for line in path.read_text(encoding="utf-8").splitlines() if line]


@pytest.mark.postgres
@pytest.mark.slow
async def test_three_replicas_one_killed_every_fire_exactly_once(tmp_path: Path) -> None:
    await require_postgres()
    rng = random.Random(SEED)
    victim = rng.choice(NAMES)
    async with fresh_database("postgres", tmp_path) as db:
        schema = db.search_path
        assert schema is not None
        until = time.time() + RUN_SECONDS
        procs: dict[str, asyncio.subprocess.Process] = {}
        out, logs = {}, {}
        for name in NAMES:
            out[name], logs[name] = tmp_path / f"{name}.out", tmp_path / f"{name}.log"
            env = {
                **os.environ,
                "REPLICA_DB_URL": PG_URL,
                "REPLICA_SCHEMA": schema,
                "REPLICA_NAME": name,
                "REPLICA_OUT": str(out[name]),
                "REPLICA_UNTIL": str(until),
                "REPLICA_DRAIN": str(DRAIN_SECONDS),
            }
            with logs[name].open("wb") as sink:
                procs[name] = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "tests.scheduling.engine_replica",
                    cwd=ROOT,
                    env=env,
                    stdout=sink,
                    stderr=asyncio.subprocess.STDOUT,
                )
        try:
            # Kill the victim at a seeded moment, once it is inside an investor task.
            earliest = time.time() + rng.uniform(4, RUN_SECONDS - 8)
            killed_in: tuple[str, str] | None = None
            async with asyncio.timeout(RUN_SECONDS):
                while killed_in is None:
                    await asyncio.sleep(0.05)
                    if time.time() < earliest:
                        continue
                    started: dict[tuple[str, str], int] = Counter()
                    for mark, at, investor, _ in _lines(out[victim]):
                        started[(at, investor)] += 1 if mark == "start" else -1
                    open_ = [k for k, n in started.items() if n > 0]
                    if open_:
                        procs[victim].send_signal(signal.SIGKILL)
                        killed_in = open_[0]
            await procs[victim].wait()
            codes = {
                n: await asyncio.wait_for(p.wait(), timeout=RUN_SECONDS + DRAIN_SECONDS + 60)
                for n, p in procs.items()
                if n != victim
            }
        finally:
            for p in procs.values():
                if p.returncode is None:
                    p.kill()
                    await p.wait()
        report = "\n".join(f"--- {n}\n{logs[n].read_text()[-2500:]}" for n in NAMES)
        assert set(codes.values()) == {0}, report
        assert procs[victim].returncode == -signal.SIGKILL

        runs = await DbJobRunStore(db).runs("tick", 1000)
        fires = sorted(r.scheduled_for for r in runs)
        assert len(fires) >= 8, f"only {len(fires)} fires\n{report}"  # start-up takes seconds
        assert all(b - a == timedelta(seconds=1) for a, b in pairwise(fires)), "a fire was lost"
        assert [r for r in runs if r.status != "succeeded"] == [], report  # none stuck running
        store = DbJobRunStore(db)
        for r in runs:
            full = await store.run("tick", r.scheduled_for)
            assert full is not None
            assert (full.total, full.done, full.failed) == (3, 3, 0)
            outcomes = await store.items("tick", r.scheduled_for, limit=10)
            assert [i.investor for i in outcomes] == ["i1", "i2", "i3"]
        async with db.session() as session:
            left = (
                await session.execute(
                    text("SELECT status, count(*) FROM procrastinate_jobs GROUP BY status")
                )
            ).all()
        assert {status for status, _ in left} <= {"succeeded"}, left

        # Executions per (fire, investor): twice only when the first ran on the killed replica.
        ran: defaultdict[tuple[str, str], list[str]] = defaultdict(list)
        for name in NAMES:
            for mark, at, investor, who in _lines(out[name]):
                if mark == "start":
                    ran[(at, investor)].append(who)
        assert killed_in in ran
        assert len(ran[killed_in]) == 2, ran[killed_in]  # the interrupted task ran again
        twice = {k: v for k, v in ran.items() if len(v) > 1}
        assert all(len(v) == 2 and victim in v for v in twice.values()), twice
        fired = {datetime.fromisoformat(at) for at, _ in ran}
        assert fired == set(fires)
        by = Counter(r.replica for r in runs)
        print(  # noqa: T201
            f"seed={SEED} victim={victim} fires={len(fires)} rerun_after_kill={len(twice)} "
            f"fires_by_replica={dict(by)}"
        )
