"""Crash suite, workflow step: kill -9 the service while an approved workflow sends its order.

The service (`orchestrator serve`, the KIS sandbox inside it, its world on disk) runs the monthly
DCA workflow, which stops at a plan; the plan is approved over the API and the service is killed
with SIGKILL at a seeded point of the order step: while the approval is on its way, in the window
between recording the intent and the broker's reply (held open by sandbox latency), or after the
reply. The service is started again on the same files (start-up recovery), the same run is
approved again, as an operator would, and after upkeep past the settle window the books are
compared: every run has at most one order intent per planned order, the broker booked no order
twice and none that no intent claims, no intent is left unknown, no run is left `running`.
No real sleeping: the driver waits on processes and polls the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from adapters.db.orders import DbOrderJournal
from orchestrator import bootstrap
from orchestrator.services.orders import OrderService
from orchestrator.settings import DEMO_API_KEY, load_settings
from tests.resilience.test_crash_orders import (
    CONFIG,
    LATENCY,
    ORDER_PATH,
    _Shifted,
    _wait_ready,
    service_env,
)
from tests.support.figures import record

SEED = int(os.environ.get("CRASH_SEED", "20261203"))
# Three runs: the workflow's max_daily_notional (₩1,000,000) refuses a fourth ₩300,000 order.
RUNS = int(os.environ.get("CRASH_WORKFLOW_RUNS", "3"))
WORKFLOW = "monthly-dca-005930"
OPERATOR = {"Authorization": f"Bearer {DEMO_API_KEY}"}
DEADLINE = 300.0


@dataclass
class Service:
    env: dict[str, str]
    db_path: Path
    base: str
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    approvals: list[threading.Thread] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "orchestrator", "serve"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.starts += 1
        _wait_ready(self.base, self.proc)
        faults = httpx.post(
            f"{self.base}/sandbox/kis/_sandbox/faults",
            json={"latency": {"seconds": LATENCY, "path": f"/sandbox/kis{ORDER_PATH}"}},
            timeout=5,
        )
        faults.raise_for_status()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=30)

    def post(self, path: str, timeout: float = 60) -> httpx.Response:
        return httpx.post(f"{self.base}{path}", headers=OPERATOR, json={}, timeout=timeout)


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Service]:
    env, db_path, port = service_env(tmp_path / "crash-wf.db", monkeypatch)
    svc = Service(env, db_path, f"http://127.0.0.1:{port}")
    svc.start()
    try:
        yield svc
    finally:
        if svc.proc is not None and svc.proc.poll() is None:
            svc.kill()


def _query(db_path: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    try:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1) as conn:
            return list(conn.execute(sql, args).fetchall())
    except sqlite3.OperationalError:  # locked by a writer this instant: not known yet
        return []


def _intent_state(db_path: Path, run_id: str) -> str | None:
    rows = _query(db_path, "SELECT state FROM order_intents WHERE origin LIKE ?", f"%:{run_id}")
    return None if not rows else str(rows[0][0])


def _approve_in_background(svc: Service, run_id: str) -> None:
    def approve() -> None:
        try:
            svc.replies.append(svc.post(f"/api/v1/workflows/runs/{run_id}/approve").text[:300])
        except httpx.HTTPError as e:  # the service died under it: that is the point
            svc.replies.append(type(e).__name__)

    thread = threading.Thread(target=approve, daemon=True)
    thread.start()
    svc.approvals.append(thread)


def _kill_during_step(svc: Service, run_id: str, point: str, rng: random.Random) -> str:
    """Kill the service at `point` of the approved run's order step; where it landed."""
    assert svc.proc is not None
    if point == "early":
        with contextlib.suppress(subprocess.TimeoutExpired):
            svc.proc.wait(timeout=rng.uniform(0.0, 0.3))
        landed = "after_record" if _intent_state(svc.db_path, run_id) else "before_record"
    else:
        deadline = time.monotonic() + 60
        while _intent_state(svc.db_path, run_id) is None:
            assert time.monotonic() < deadline, f"the run recorded no order: {svc.replies}"
            time.sleep(0.005)  # polling the database for the row, not waiting for time to pass
        if point == "window":
            time.sleep(rng.uniform(0.0, LATENCY * 0.8))  # inside the held submission
            landed = "window"
        else:
            while _intent_state(svc.db_path, run_id) in ("pending_submit", None):
                assert time.monotonic() < deadline, "the order never got its reply"
                time.sleep(0.005)  # polling the database, not waiting for time to pass
            landed = "after_reply"
    svc.kill()
    return landed


async def _books(svc: Service, run_ids: list[str]) -> dict[str, int]:
    container = bootstrap.build(load_settings(CONFIG), attach_sandboxes=svc.base)
    try:
        assert container.kis is not None
        orders = OrderService(
            DbOrderJournal(container.db, container.cipher),
            container.kis.executor,
            _Shifted(timedelta(minutes=11)),
        )
        await orders.recover()
        await orders.resolve_pending()
        assert container.directory is not None
        account = await container.directory.trading_account("demo")
        records = [
            r
            for r in await orders.list_orders(limit=1000)
            if any(r.intent.origin.endswith(f":{run_id}") for run_id in run_ids)
        ]
        since = min(r.intent.created_at for r in records) - timedelta(minutes=5)
        broker = await container.kis.executor.orders_since(account, since)
    finally:
        await container.close()
    per_run = Counter(r.intent.origin.rsplit(":", 1)[-1] for r in records)
    claimed = {r.broker_order_id for r in records if r.broker_order_id}
    booked = [o for o in broker if o.symbol == "005930"]
    statuses = _query(
        svc.db_path,
        f"SELECT status FROM workflow_runs WHERE id IN ({','.join('?' * len(run_ids))})",
        *run_ids,
    )
    return {
        "intents": len(records),
        "runs_with_two_intents": sum(1 for n in per_run.values() if n > 1),
        "broker_orders": len(booked),
        "orphans": sum(1 for o in booked if o.order_id not in claimed),
        "double_claims": len(records) - len({r.id for r in records}),
        "unknown_after_upkeep": sum(1 for r in records if r.state.unresolved),
        "runs_left_running": sum(1 for (status,) in statuses if status == "running"),
    }


def test_kill_nine_during_a_workflow_order_step_never_sends_twice(service: Service) -> None:
    """Seeded kills of the service during approved runs' order steps: no order twice."""
    rng = random.Random(SEED)
    started = time.monotonic()
    kills: Counter[str] = Counter()
    reapproved: Counter[int] = Counter()
    run_ids: list[str] = []
    for _ in range(RUNS):
        assert time.monotonic() - started < DEADLINE, "workflow crash suite over its budget"
        planned = service.post(f"/api/v1/workflows/{WORKFLOW}/run")
        assert planned.status_code == 200, planned.text
        run_id = planned.json()["id"]
        run_ids.append(run_id)
        _approve_in_background(service, run_id)
        point = rng.choice(("early", "window", "window", "after_reply"))
        kills[_kill_during_step(service, run_id, point, rng)] += 1
        service.start()  # start-up recovery on the same files
        again = service.post(f"/api/v1/workflows/runs/{run_id}/approve")
        assert again.status_code < 500, again.text
        reapproved[again.status_code] += 1
    for thread in service.approvals:
        thread.join(timeout=60)
    books = asyncio.run(_books(service, run_ids))
    record(
        "crash suite (workflow step)",
        seed=SEED,
        runs=RUNS,
        kills=sum(kills.values()),
        **{f"kills_{k}": v for k, v in sorted(kills.items())},
        **{f"reapproved_{k}": v for k, v in sorted(reapproved.items())},
        service_starts=service.starts,
        seconds=round(time.monotonic() - started, 1),
        **books,
    )

    assert books["runs_with_two_intents"] == 0
    assert books["double_claims"] == 0
    assert books["orphans"] == 0
    assert books["broker_orders"] <= books["intents"]
    assert books["unknown_after_upkeep"] == 0
    assert books["runs_left_running"] == 0
