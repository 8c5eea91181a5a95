"""`serve` as a process: restarts (SIGTERM, kill -9) continue one world; a second `serve` on the
same port or database exits 2 with one line and changes nothing."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

import pytest

from tests.e2e.serve_process import Service, environment, free_port, orchestrator

pytestmark = pytest.mark.slow


@pytest.fixture
def service(tmp_path: Path) -> Service:
    port = free_port()
    env = environment(tmp_path, port)
    upgraded = orchestrator(env, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    return Service(env, port, tmp_path / "serve.log")


def _loud_alerts(svc: Service) -> list[dict[str, object]]:
    return [e for e in svc.events() if e.get("level") in ("critical", "error")]


def _buy(svc: Service, key: str) -> str:
    placed = orchestrator(
        svc.env,
        "orders",
        "place",
        "--symbol",
        "005930",
        "--side",
        "buy",
        "--qty",
        "1",
        "--key",
        key,
        "--no-show-balance",
    )
    assert placed.returncode == 0, placed.stdout + placed.stderr
    return placed.stdout


def _counts(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}


def test_restarts_by_sigterm_and_kill_9_stay_clean(service: Service, tmp_path: Path) -> None:
    """Orders before each stop; after SIGTERM and after kill -9 the start-up run is clean."""
    service.start()
    for round_, stop in enumerate([signal.SIGTERM, signal.SIGKILL, signal.SIGTERM]):
        _buy(service, f"restart-{round_}")
        service.stop(stop)
        service.start()
        last = service.get("/api/v1/status")["last_reconciliation"]
        assert last["status"] == "clean", last
    orders = service.get("/api/v1/orders")
    service.stop()

    numbers = [o["broker_order_id"] for o in orders]
    assert len(numbers) == 3
    assert len(set(numbers)) == 3, numbers
    assert all(o["state"] in ("filled", "accepted") for o in orders), orders
    assert _loud_alerts(service) == []


def test_a_second_serve_exits_2_and_changes_nothing(service: Service, tmp_path: Path) -> None:
    service.start()
    db = tmp_path / "svc.db"
    before = _counts(db)

    same_port = orchestrator(service.env, "serve", timeout=60)
    other_port = orchestrator({**service.env, "ORCH_API__PORT": str(free_port())}, "serve")

    after = _counts(db)
    service.stop()
    assert same_port.returncode == 2
    assert "cannot listen on 127.0.0.1" in same_port.stderr
    assert other_port.returncode == 2
    assert "already runs on" in other_port.stderr
    for result in (same_port, other_port):
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    # The running service's own jobs may add runs meanwhile; the refused ones added none.
    busy = {"job_runs": 0, "job_run_items": 0}
    assert {**after, **busy} == {**before, **busy}
    with sqlite3.connect(db) as conn:
        replicas = {r[0] for r in conn.execute("SELECT replica FROM job_runs")}
    assert len(replicas) == 1, replicas
