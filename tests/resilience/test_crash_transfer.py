"""Crash suite, guarded transfer: kill -9 a process in the middle of a deposit into the CMA.

The relay sandbox runs in its own process with latency on the deposit path, so the window between
recording the transfer (journal row with its bank_tran_id, committed before anything is sent) and
the relay's answer is wide. Each run starts `tests.resilience._transfer_child` on one idempotency
key and kills it with SIGKILL at a seeded point: before the journal row exists, just after it was
committed, or later while the request is at the relay (before or after the relay booked it). The
same key is then deposited again by a new process whose clock is past the no-record grace, as
recovery would run later. Checked: one journal row per key; every transfer settled (never left
unresolved); SUCCEEDED exactly when the relay booked that bank_tran_id, FAILED exactly when it
has no record of it; the relay booked no bank_tran_id twice and nothing no row claims; no key
was deposited twice. The driver waits on the child's output and polls the journal file; nothing
sleeps for a fixed time except the seeded kill offset.
"""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from bench._recon_world import SandboxProcess
from tests.adapters.openbanking.conftest import make_seed
from tests.support.databases import fresh_database
from tests.support.figures import record

SEED = int(os.environ.get("CRASH_SEED", "20261203"))
RUNS = int(os.environ.get("CRASH_TRANSFER_RUNS", "12"))
DEPOSIT = "/v2.0/transfer/deposit/fin_num"
LATENCY = 0.6  # seconds the relay holds each deposit before booking it
AMOUNT = "10000"
GRACE = "121"  # past transfers.no_record_grace_seconds (120): the replay may settle anything
ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 120.0


def _child(db_url: str, relay: str, key: str, shift: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.resilience._transfer_child",
            db_url,
            relay,
            key,
            AMOUNT,
            shift,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def _await_line(proc: subprocess.Popen[str], wanted: str) -> str:
    assert proc.stdout is not None
    for raw in proc.stdout:
        if raw.startswith(wanted):
            return raw.strip()
    raise AssertionError(f"the child ended (exit {proc.wait(timeout=10)}) before {wanted!r}")


def _row(path: Path, key: str) -> tuple[str, str | None] | None:
    with sqlite3.connect(path) as conn:
        found = conn.execute(
            "SELECT state, bank_tran_id FROM transfers WHERE idempotency_key = ?", (key,)
        ).fetchone()
    return None if found is None else (str(found[0]), found[1])


def _kill_at(
    proc: subprocess.Popen[str], point: str, db: Path, key: str, rng: random.Random
) -> None:
    _await_line(proc, "ready")
    if point == "recorded":  # as soon as the journal row is committed
        limit = time.monotonic() + DEADLINE
        while _row(db, key) is None and proc.poll() is None:
            assert time.monotonic() < limit, "the child never recorded its transfer"
            time.sleep(0.002)  # a poll of the journal file, not a wait for time to pass
    elif point == "in_flight":  # somewhere in the relay's latency, or just after it booked
        time.sleep(rng.uniform(0.0, LATENCY + 0.3))
    proc.kill()
    proc.wait(timeout=10)
    if proc.stdout is not None:
        proc.stdout.close()


@pytest.mark.slow
async def test_kill_nine_during_a_guarded_deposit_never_deposits_twice(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    relay = SandboxProcess("openbanking", make_seed(), lifetime_seconds=600)
    try:
        async with fresh_database("sqlite", tmp_path) as db:
            db_url = str(db.url)
            db_file = tmp_path / "test.db"
            async with httpx.AsyncClient(base_url=relay.base_url) as control:
                fault = {"kind": "latency", "path": DEPOSIT, "seconds": LATENCY}
                response = await control.post("/_sandbox/faults", json=fault)
                assert response.status_code == 200, response.text
            points: Counter[str] = Counter()
            replayed: dict[str, str] = {}
            for i in range(RUNS):
                key = f"crash-transfer-{SEED}-{i}"
                point = rng.choice(["at_start", "recorded", "in_flight", "in_flight"])
                points[point] += 1
                _kill_at(_child(db_url, relay.base_url, key, "0"), point, db_file, key, rng)
                replay = _child(db_url, relay.base_url, key, GRACE)
                _await_line(replay, "ready")
                replayed[key] = _await_line(replay, "state=").removeprefix("state=")
                assert replay.wait(timeout=DEADLINE) == 0
                if replay.stdout is not None:
                    replay.stdout.close()
            async with httpx.AsyncClient(base_url=relay.base_url) as control:
                booked = (await control.get("/_sandbox/transfers")).json()["transfers"]
    finally:
        relay.stop()

    deposits = [t for t in booked if t["check_type"] != "withdraw" and t["executed"]]
    at_relay = Counter(t["bank_tran_id"] for t in deposits)
    rows = {}
    for i in range(RUNS):
        key = f"crash-transfer-{SEED}-{i}"
        found = _row(db_file, key)
        assert found is not None or replayed[key] == "succeeded", key
        rows[key] = found
    record(
        "crash suite (transfers)",
        seed=SEED,
        runs=RUNS,
        kills=RUNS,
        **{f"kills_{p}": n for p, n in sorted(points.items())},
        booked=len(deposits),
        succeeded=sum(1 for r in rows.values() if r and r[0] == "succeeded"),
        failed=sum(1 for r in rows.values() if r and r[0] == "failed"),
        duplicates=sum(n - 1 for n in at_relay.values()),
    )
    assert all(n == 1 for n in at_relay.values()), at_relay  # no bank_tran_id booked twice
    claimed = {r[1] for r in rows.values() if r is not None}
    assert set(at_relay) <= claimed, "the relay booked a deposit no journal row claims"
    for key, found in rows.items():
        assert found is not None
        state, bank_tran_id = found
        assert state in {"succeeded", "failed"}, (key, state)  # settled, never left unresolved
        assert replayed[key] == state
        assert (state == "succeeded") == (bank_tran_id in at_relay), (key, state)
    assert len(deposits) == sum(1 for r in rows.values() if r and r[0] == "succeeded")
