"""With `serve` running for the same configuration, state-changing CLI commands go through its
API (one line says so) and show in its log; without it they work on the same durable world."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.e2e.serve_process import Service, environment, free_port, orchestrator

pytestmark = pytest.mark.slow


@pytest.fixture
def service(tmp_path: Path) -> Service:
    port = free_port()
    env = environment(tmp_path, port)
    assert orchestrator(env, "db", "upgrade").returncode == 0
    return Service(env, port, tmp_path / "serve.log")


def test_cli_commands_go_through_the_running_service(service: Service, tmp_path: Path) -> None:
    service.start()
    place = ["orders", "place", "--symbol", "005930", "--side", "buy", "--qty", "1"]
    placed = orchestrator(service.env, *place, "--key", "through-1")
    bad = orchestrator(service.env, *place[:-1], "0", "--key", "through-2")
    off_tick = orchestrator(service.env, *place, "--price", "70001", "--key", "through-3")
    reconciled = orchestrator(service.env, "reconcile", "--once")
    service.stop()

    assert placed.returncode == 0, placed.stdout + placed.stderr
    assert "through the service at" in placed.stderr
    assert "-> accepted" in placed.stdout or "-> filled" in placed.stdout, placed.stdout
    assert bad.returncode == 2
    assert off_tick.returncode == 2
    assert "price" in off_tick.stderr
    assert "nothing was written" in off_tick.stderr
    assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr
    assert "through the service at" in reconciled.stderr
    recorded = [e for e in service.events() if e.get("event") == "orders.intent_recorded"]
    assert len(recorded) == 1  # in the service's own log
    with sqlite3.connect(tmp_path / "svc.db") as conn:
        actors = {r[0] for r in conn.execute("SELECT actor FROM audit_events")}
    assert "api:demo-operator" in actors


def test_without_a_service_the_cli_works_on_the_same_world(
    service: Service, tmp_path: Path
) -> None:
    """A direct order, then the service starts on the same world: its first run is clean."""
    place = ["orders", "place", "--symbol", "005930", "--side", "buy", "--qty", "1"]
    direct = orchestrator(service.env, *place, "--key", "direct-1")
    assert direct.returncode == 0, direct.stdout + direct.stderr
    assert "working directly" in direct.stderr

    service.start()
    status = service.get("/api/v1/status")
    service.stop()
    assert status["last_reconciliation"]["status"] == "clean", status
