"""With `serve` running for the same configuration, state-changing CLI commands go through its
API (one line says so) and show in its log; without it they work on the same durable world."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from orchestrator.jobs_cli import kst
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


def test_workflow_commands_go_through_the_running_service(service: Service, tmp_path: Path) -> None:
    """run (dry and real), approve and reject are the service's work: audited there with the
    CLI's key, in its log, and the CLI opens no sandbox world of its own."""
    service.start()
    dry = orchestrator(service.env, "workflows", "run", "monthly-dca-005930", "--dry-run")
    planned = orchestrator(service.env, "workflows", "run", "monthly-dca-005930")
    run_id = planned.stdout.split()[1]
    approved = orchestrator(service.env, "workflows", "approve", run_id)
    again = orchestrator(service.env, "workflows", "run", "monthly-dca-005930")
    other = again.stdout.split()[1]
    rejected = orchestrator(service.env, "workflows", "reject", other, "--reason", "not now")
    twice = orchestrator(service.env, "workflows", "reject", other)
    unknown = orchestrator(service.env, "workflows", "run", "no-such-workflow")
    paused = orchestrator(service.env, "jobs", "pause", "token-upkeep")
    jobs = orchestrator(service.env, "jobs", "list")
    api_jobs = {j["id"]: j for j in service.get("/api/v1/jobs")}
    consent = orchestrator(service.env, "consent", "status")
    bad_code = orchestrator(service.env, "consent", "finish", "--code", "c", "--state", "s")
    revoked = orchestrator(service.env, "consent", "revoke")
    # A read that opens the service's sandboxes must not re-grant it behind the service's back.
    listed = orchestrator(service.env, "orders", "list")
    still = orchestrator(service.env, "consent", "status")
    events = service.events()
    service.stop()

    for done in (dry, planned, approved, again, rejected):
        assert done.returncode == 0, done.stdout + done.stderr
        assert "through the service at" in done.stderr
        assert "sandbox" not in done.stderr
    assert "(dry run: nothing is sent)" in dry.stdout
    assert "would place buy" in dry.stdout
    assert "awaiting_approval" in planned.stdout
    assert f"run {run_id}  monthly-dca-005930" in approved.stdout
    assert "awaiting_approval" not in approved.stdout
    assert f"run {other}  monthly-dca-005930  rejected" in rejected.stdout
    assert twice.returncode == 1
    assert "409" in twice.stderr
    assert unknown.returncode == 1
    assert "404" in unknown.stderr
    assert paused.returncode == 0, paused.stderr
    assert "token-upkeep  [token_upkeep]  every 3600s; PAUSED by demo-operator" in jobs.stdout
    assert api_jobs["token-upkeep"]["paused"] is True
    dca_fire = api_jobs["workflow.monthly-dca-005930"]["next_fire_time"]
    assert kst(dca_fire) in jobs.stdout  # the API's instant, shown in Asia/Seoul
    assert consent.returncode == 0, consent.stderr
    assert "demo: granted, scope 'login inquiry', token expires 20" in consent.stdout
    assert " KST (" in consent.stdout
    assert bad_code.returncode == 1
    assert "400" in bad_code.stderr
    assert revoked.stdout.startswith("demo: revoked"), revoked.stdout + revoked.stderr
    assert "through the service at" in revoked.stderr
    assert listed.returncode == 0, listed.stderr
    assert still.stdout.startswith("demo: revoked"), still.stdout
    finished = {e.get("run_id") for e in events if e.get("event") == "workflow.run_finished"}
    assert {run_id, other} <= finished  # in the service's own log
    with sqlite3.connect(tmp_path / "svc.db") as conn:
        audited = set(conn.execute("SELECT actor, action, subject FROM audit_events"))
    assert ("demo-operator", "workflow.run_approved", f"workflow_run:{run_id}") in audited
    assert ("demo-operator", "workflow.run_rejected", f"workflow_run:{other}") in audited
    assert any(a[0] == "demo-operator" and "revok" in a[1] for a in audited)
    started = {a[2] for a in audited if a[:2] == ("api:demo-operator", "workflow.run_started")}
    assert {f"workflow_run:{run_id}", f"workflow_run:{other}"} < started  # and the dry run
