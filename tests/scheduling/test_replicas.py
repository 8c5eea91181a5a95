"""Two real replica processes on the real PostgreSQL: every fire runs exactly once.

Each process runs the same 1-second interval job for ~20 s against one fresh schema. The job
appends its fire time to a per-process file; the database's run table and both files must agree
that each fire ran once, and both processes' logs must show they raced for every fire.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections import Counter
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from sqlalchemy import text

from adapters.db.jobs import DbJobRunStore
from tests.support.databases import PG_URL, fresh_database, require_postgres

ROOT = Path(__file__).resolve().parents[2]
RUN_SECONDS = 20


def _events(log: Path, name: str) -> list[dict[str, object]]:
    found = []
    for line in log.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if entry.get("event") == name:
            found.append(entry)
    return found


@pytest.mark.postgres
@pytest.mark.slow
async def test_two_replicas_run_each_fire_exactly_once(tmp_path: Path) -> None:
    await require_postgres()
    async with fresh_database("postgres", tmp_path) as db:
        async with db.engine.connect() as conn:
            schema = (await conn.execute(text("select current_schema()"))).scalar_one()
        until = time.time() + RUN_SECONDS
        procs, logs, outs = [], [], []
        for name in ("replica-a", "replica-b"):
            out, log = tmp_path / f"{name}.fires", tmp_path / f"{name}.log"
            env = {
                **os.environ,
                "REPLICA_DB_URL": PG_URL,
                "REPLICA_SCHEMA": schema,
                "REPLICA_NAME": name,
                "REPLICA_OUT": str(out),
                "REPLICA_UNTIL": str(until),
            }
            with log.open("wb") as sink:
                procs.append(
                    await asyncio.create_subprocess_exec(
                        sys.executable,
                        "-m",
                        "tests.scheduling.replica",
                        cwd=ROOT,
                        env=env,
                        stdout=sink,
                        stderr=asyncio.subprocess.STDOUT,
                    )
                )
            logs.append(log)
            outs.append(out)
        codes = [await asyncio.wait_for(p.wait(), timeout=RUN_SECONDS + 30) for p in procs]
        report = "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for log in logs)
        assert codes == [0, 0], report

        executed = [
            (datetime.fromisoformat(ts), replica)
            for out in outs
            if out.exists()
            for ts, replica in (line.split() for line in out.read_text().splitlines())
        ]
        per_fire = Counter(ts for ts, _ in executed)
        duplicates = {ts: n for ts, n in per_fire.items() if n != 1}
        assert duplicates == {}, report

        runs = await DbJobRunStore(db).runs("tick", 1000)
        assert {(r.scheduled_for, r.replica) for r in runs} == set(executed)
        assert all(r.status == "succeeded" and not r.manual for r in runs)
        fires = sorted(per_fire)
        assert len(fires) >= RUN_SECONDS - 6, f"only {len(fires)} fires\n{report}"
        # One-second grid, no gaps, whole seconds.
        assert all(b - a == timedelta(seconds=1) for a, b in pairwise(fires))
        assert all(ts.microsecond == 0 for ts in fires)

        # Both replicas raced for every fire while both were up: one ran it, the other lost.
        lost = [
            {
                datetime.fromisoformat(str(e["scheduled_for"]))
                for e in _events(log, "scheduler.fire_claimed_elsewhere")
            }
            for log in logs
        ]
        ran = [{ts for ts, r in executed if r == name} for name in ("replica-a", "replica-b")]
        attempted = [ran[i] | lost[i] for i in range(2)]
        both = attempted[0] & attempted[1]
        assert len(both) >= RUN_SECONDS - 8, report
        for ts in both:
            assert (ts in ran[0]) != (ts in ran[1]), ts
            assert (ts in lost[0]) != (ts in lost[1]), ts
        wins = Counter(r for _, r in executed)
        print(f"fires={len(fires)} raced={len(both)} wins={dict(wins)}")  # noqa: T201
