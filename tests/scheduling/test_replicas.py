"""Two real replica processes on the real PostgreSQL: every fire runs exactly once.

Nothing sleeps and no wall clock is read. Each process runs the scheduler on its own FakeClock
(started at a different instant, reading a different skew past each fire) and the test drives
both in lockstep: one `tick` to each at once, so both replicas race for the same fire through
their own connection, then wait until both have answered. The fire time each hands over is its
own trigger's, with float noise, so the claim key must come out the same on both. The database's
run table and the files the job appends to must agree that each fire ran once, and both
processes' logs must show they raced for every fire.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import Counter
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from adapters.db.jobs import DbJobRunStore
from orchestrator.domain.timeutil import KST
from tests.support.databases import PG_URL, fresh_database, require_postgres

ROOT = Path(__file__).resolve().parents[2]
FIRES = 20
START = datetime(2026, 6, 4, 10, 0, tzinfo=KST)
# (name, clock start past START, skew past each fire, microseconds of noise on the fire time)
REPLICAS = (("replica-a", 0.120, 0.050, 3), ("replica-b", 0.437, 0.610, -4))
# Bounds on one answer from a process on a loaded machine (start-up imports included), not waits.
ANSWER_BOUND_SECONDS = 120


class Replica:
    def __init__(self, name: str, proc: asyncio.subprocess.Process) -> None:
        self.name = name
        self.proc = proc
        self.lines: list[str] = []

    async def until(self, event: str) -> dict[str, Any]:
        """Read its output until the next `event` log line (every line is kept for the report)."""
        assert self.proc.stdout is not None
        while True:
            raw = await asyncio.wait_for(self.proc.stdout.readline(), ANSWER_BOUND_SECONDS)
            if not raw:
                raise AssertionError(f"replica exited before {event}:\n{self.report()}")
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.lines.append(line)
            entry = _json(line)
            if entry is not None and entry.get("event") == event:
                return entry

    def tick(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"tick\n")

    def events(self, name: str) -> list[dict[str, Any]]:
        return [e for line in self.lines if (e := _json(line)) and e.get("event") == name]

    def report(self) -> str:
        return "\n".join(self.lines[-60:])


def _json(line: str) -> dict[str, Any] | None:
    try:
        entry = json.loads(line)
    except json.JSONDecodeError:
        return None
    return entry if isinstance(entry, dict) else None


@pytest.mark.postgres
async def test_two_replicas_run_each_fire_exactly_once(tmp_path: Path) -> None:
    await require_postgres()
    async with fresh_database("postgres", tmp_path) as db:
        async with db.engine.connect() as conn:
            schema = (await conn.execute(text("select current_schema()"))).scalar_one()
        replicas, outs = [], []
        for name, start, skew, noise in REPLICAS:
            out = tmp_path / f"{name}.fires"
            env = {
                **os.environ,
                "REPLICA_DB_URL": PG_URL,
                "REPLICA_SCHEMA": schema,
                "REPLICA_NAME": name,
                "REPLICA_OUT": str(out),
                "REPLICA_START": (START + timedelta(seconds=start)).isoformat(),
                "REPLICA_SKEW_SECONDS": str(skew),
                "REPLICA_NOISE_US": str(noise),
            }
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-u",
                "-m",
                "tests.scheduling.replica",
                cwd=ROOT,
                env=env,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            replicas.append(Replica(name, proc))
            outs.append(out)
        try:
            await asyncio.gather(*(r.until("replica.ready") for r in replicas))
            for _ in range(FIRES):
                for r in replicas:
                    r.tick()
                answers = await asyncio.gather(*(r.until("replica.fire_done") for r in replicas))
                report = "\n".join(r.report() for r in replicas)
                # Both replicas computed the same fire; exactly one ran it.
                assert len({a["scheduled_for"] for a in answers}) == 1, report
                assert sorted(a["outcome"] for a in answers) == ["lost", "succeeded"], report
        finally:
            for r in replicas:
                assert r.proc.stdin is not None
                r.proc.stdin.close()
            for r in replicas:
                assert r.proc.stdout is not None
                rest = await asyncio.wait_for(r.proc.stdout.read(), ANSWER_BOUND_SECONDS)
                r.lines += rest.decode("utf-8", "replace").splitlines()
            codes = [await asyncio.wait_for(r.proc.wait(), ANSWER_BOUND_SECONDS) for r in replicas]
        report = "\n".join(f"--- {r.name}\n{r.report()}" for r in replicas)
        assert codes == [0, 0], report

        executed = [
            (datetime.fromisoformat(ts), replica)
            for out in outs
            if out.exists()
            for ts, replica in (line.split() for line in out.read_text().splitlines())
        ]
        per_fire = Counter(ts for ts, _ in executed)
        assert {ts: n for ts, n in per_fire.items() if n != 1} == {}, report

        runs = await DbJobRunStore(db).runs("tick", 1000)
        assert {(r.scheduled_for, r.replica) for r in runs} == set(executed)
        assert all(r.status == "succeeded" and not r.manual for r in runs)
        fires = sorted(per_fire)
        assert len(fires) == FIRES, report
        # One-second grid from the first whole second after both clocks started, no gaps, whole
        # seconds: the noise and the skews did not leak into the key.
        assert fires[0] == START + timedelta(seconds=1)
        assert all(b - a == timedelta(seconds=1) for a, b in pairwise(fires))
        assert all(ts.microsecond == 0 for ts in fires)

        # Both replicas raced for every fire: one ran it, the other lost the claim.
        lost = [
            {
                datetime.fromisoformat(str(e["scheduled_for"]))
                for e in r.events("scheduler.fire_claimed_elsewhere")
            }
            for r in replicas
        ]
        ran = [{ts for ts, who in executed if who == r.name} for r in replicas]
        for ts in fires:
            assert (ts in ran[0]) != (ts in ran[1]), ts
            assert (ts in lost[0]) != (ts in lost[1]), ts
            assert (ts in ran[0]) == (ts in lost[1]), ts
        wins = Counter(who for _, who in executed)
        print(f"fires={len(fires)} wins={dict(wins)}")  # noqa: T201
