"""Two worker processes on the real PostgreSQL, 200 investors, one killed with SIGKILL mid-fire.

The sandboxes run in their own processes; each worker is `python -m bench._scale_worker` (the
production stack: resilient layer with Redis-shared budgets, encrypted token vault, order
journal, reconciliation). Ten investors share each KIS app key, so both workers draw on the same
18/s budgets. One fire fans out 200 investor tasks; each places one market order under an
idempotency key derived from the fire, then reconciles the investor. Once some investors are
done, one worker is killed with SIGKILL; its tasks stall, the survivor retries them.

Checked: the fire completes with every investor recorded exactly once; every investor has
exactly one finished reconciliation for the fire (a run its dead worker left is closed as an
error, not counted) and none is left running; every investor has exactly one order at the broker;
the KIS sandbox refused no request with EGW00201 (Redis-shared budgets); the survivor stops
gracefully on SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from adapters.db.engine import Database
from adapters.db.jobs import DbJobRunStore
from adapters.tasks import ProcrastinateEngine, TaskHost, create_task_app
from bench import _recon_world as world
from bench._scale_world import build_world, open_orders, prepare
from orchestrator.clock import SystemClock
from orchestrator.domain.timeutil import to_utc
from tests.support.databases import PG_URL, REDIS_URL, fresh_database, require_postgres
from tests.tasks.redis_support import require_redis

ROOT = Path(__file__).resolve().parents[2]
USERS = 200
KEY_GROUP = 10


def _events(path: Path, name: str) -> list[dict[str, object]]:
    found = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and entry.get("event") == name:
            found.append(entry)
    return found


def _tail(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")[-3000:]


def _worker(name: str, env: dict[str, str], log: Path) -> subprocess.Popen[str]:
    with log.open("w") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "bench._scale_worker"],
            cwd=ROOT,
            env={**os.environ, **env, "SCALE_NAME": name},
            stdout=subprocess.PIPE,
            stderr=sink,
            text=True,
        )


async def _ready(proc: subprocess.Popen[str], log: Path) -> None:
    assert proc.stdout is not None
    line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), timeout=120)
    assert line.strip() == "ready", _tail(log)


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
async def test_kill_a_worker_mid_fire_every_investor_once_no_duplicate_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await require_postgres()
    await require_redis()
    monkeypatch.setenv("SANDBOX_SESSION", "open")
    kis = world.SandboxProcess(
        "kis", world.kis_seed(USERS, shared_key=False, key_group=KEY_GROUP), lifetime_seconds=900
    )
    ob = world.SandboxProcess("openbanking", world.openbanking_seed(USERS), lifetime_seconds=900)
    procs: list[subprocess.Popen[str]] = []
    try:
        async with fresh_database("postgres", tmp_path) as db:
            await _run(db, kis.base_url, ob.base_url, tmp_path, procs)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
            if p.stdout is not None:
                p.stdout.close()
        kis.stop()
        ob.stop()


async def _run(
    db: Database, kis_url: str, ob_url: str, tmp: Path, procs: list[subprocess.Popen[str]]
) -> None:
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    here = build_world(
        db,
        kis_url=kis_url,
        ob_url=ob_url,
        users=USERS,
        key_group=KEY_GROUP,
        redis_url=REDIS_URL,
        redis_prefix=prefix,
    )
    try:
        await prepare(here, USERS)  # consent and tokens, once, before the fire
        env = {
            "SCALE_DB_URL": PG_URL,
            "SCALE_SCHEMA": db.search_path or "",
            "SCALE_KIS_URL": kis_url,
            "SCALE_OB_URL": ob_url,
            "SCALE_USERS": str(USERS),
            "SCALE_KEY_GROUP": str(KEY_GROUP),
            "SCALE_ORDERS": "1",
            "SCALE_REDIS_URL": REDIS_URL,
            "SCALE_REDIS_PREFIX": prefix,
            "SCALE_CONCURRENCY": "8",
            "SCALE_HEARTBEAT": "1",
            "SCALE_STALLED": "4",
            "SCALE_LOG_LEVEL": "INFO",
        }
        logs = {name: tmp / f"{name}.log" for name in ("worker-a", "worker-b")}
        for name, log in logs.items():
            procs.append(_worker(name, env, log))
        for proc, log in zip(procs, logs.values(), strict=True):
            await _ready(proc, log)

        store = DbJobRunStore(db)
        app = create_task_app(db.url, TaskHost(), search_path=db.search_path)
        async with app.open_async():
            engine = ProcrastinateEngine(app)
            fire_at = to_utc(SystemClock().now()).replace(microsecond=0)
            assert await engine.defer_fire("reconcile-scale", fire_at)
            assert not await engine.defer_fire("reconcile-scale", fire_at)  # once per fire

            # Kill worker A once a few investors are done and it is in the middle of others.
            async with asyncio.timeout(480):  # a bound, generous for a loaded CI machine
                while True:
                    run = await store.run("reconcile-scale", fire_at)
                    if run is not None and run.done >= 20:
                        break
                    await asyncio.sleep(0.2)
            done_at_kill = run.done
            procs[0].send_signal(signal.SIGKILL)
            procs[0].wait(timeout=10)

            async with asyncio.timeout(600):
                while True:
                    run = await store.run("reconcile-scale", fire_at)
                    assert run is not None
                    if run.status != "running":
                        break
                    await asyncio.sleep(0.5)
        report = "\n".join(f"--- {n}\n{_tail(p)}" for n, p in logs.items())

        # The fire: complete, every investor exactly once, spread over both workers.
        assert done_at_kill < USERS, "the kill landed after the fire"
        assert run.status == "succeeded", report
        assert (run.total, run.done, run.failed) == (USERS, USERS, 0)
        outcomes = await store.items("reconcile-scale", fire_at, limit=USERS + 1)
        items = Counter(i.investor for i in outcomes)
        assert set(items) == {world.user_id(i) for i in range(USERS)}
        assert set(items.values()) == {1}
        assert {i.worker for i in outcomes} == {"worker-a", "worker-b"}
        retried = _events(logs["worker-b"], "tasks.stalled_job_retried")
        assert retried, "no task of the killed worker was in flight\n" + report

        # Reconciliations: one finished run per investor for this fire; none left running.
        async with db.session() as session:
            rows = (
                await session.execute(text("SELECT status, report FROM reconciliation_runs"))
            ).all()
        assert all(status != "running" for status, _ in rows)
        counted: Counter[str] = Counter()
        for status, body in rows:
            if status == "error":
                continue
            users = {s["user_id"] for s in json.loads(body)["sources"]} if body else set()
            counted.update(users)
        assert set(counted.values()) == {1}, counted.most_common(3)
        assert len(counted) == USERS

        # The broker: at most one order per investor, whoever placed it, however often it was
        # retried. A kill between recording an intent and sending it leaves no order at the
        # broker: upkeep (recovery) must then settle that intent `not_found`, never resend it.
        await open_orders(here)
        since = fire_at - timedelta(hours=1)
        per_account = {}
        for uid, k in here.kis.items():
            (account,) = await k.accounts.accounts(uid)
            per_account[uid] = len(await k.executor.orders_since(account, since))
        assert set(per_account.values()) <= {0, 1}, Counter(per_account.values())
        async with db.session() as session:
            states = dict(
                (await session.execute(text("SELECT user_id, state FROM order_intents"))).all()
            )
        assert len(states) == USERS
        # Recovery turned every dead send into UNKNOWN (never resent); one the broker does not
        # list becomes NOT_FOUND once its settle window passes. Every order the broker holds
        # is matched to its intent.
        assert "pending_submit" not in states.values()
        for uid, n in per_account.items():
            expected = {"unknown", "not_found"} if n == 0 else {"accepted", "filled"}
            assert states[uid] in expected, (uid, n, states[uid])

        # Shared budgets held: the two workers drew on each app key's one budget in Redis, and
        # the window's guard covers the wait between admitting a request and its arrival, so
        # the sandbox refused none (EGW00201).
        async with httpx.AsyncClient(base_url=kis_url) as client:
            state = (await client.get("/_sandbox/accounts")).json()
        assert state["rate_limited_replies"] == 0, state["rate_limited_replies"]

        # Graceful stop of the survivor.
        procs[1].send_signal(signal.SIGTERM)
        assert procs[1].wait(timeout=60) == 0, report
        print(  # noqa: T201
            f"investors={USERS} done_at_kill={done_at_kill} retried_stalled={len(retried)} "
            f"by_worker={dict(Counter(i.worker for i in outcomes))} "
            f"abandoned_runs={sum(1 for s, _ in rows if s == 'error')} "
            f"throttled={state['rate_limited_replies']}"
        )
    finally:
        await here.close()
