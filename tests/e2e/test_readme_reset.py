"""The README's "Stop, start, reset" steps, run from the README text itself so it cannot drift."""

from __future__ import annotations

import re
import shlex
import sqlite3
from pathlib import Path

import pytest

from tests.e2e.serve_process import Service, environment, free_port, orchestrator

pytestmark = pytest.mark.slow
README = Path(__file__).resolve().parents[2] / "README.md"


def _steps() -> list[list[str]]:
    text = README.read_text(encoding="utf-8")
    section = text.split("### Stop, start, reset", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None, "the README lost its reset steps"
    lines = [line.split("#", 1)[0].strip() for line in block.group(1).splitlines()]
    return [shlex.split(line)[1:] for line in lines if line.startswith("orchestrator ")]


def test_the_readme_reset_steps_work_after_a_restart(tmp_path: Path) -> None:
    steps = _steps()
    assert [s[:2] for s in steps] == [["reconcile", "--once"], ["demo", "reset"]]
    port = free_port()
    env = environment(tmp_path, port)
    assert orchestrator(env, "db", "upgrade").returncode == 0
    svc = Service(env, port, tmp_path / "serve.log")
    svc.start()
    placed = orchestrator(
        env, "orders", "place", "--symbol", "005930", "--side", "buy", "--qty", "1"
    )
    assert placed.returncode == 0, placed.stderr
    svc.stop()
    svc.start()  # "stop `make run` and start it again": the start-up run is clean
    assert svc.get("/api/v1/status")["last_reconciliation"]["status"] == "clean"
    svc.stop()  # "with the service stopped"

    for step in steps:
        result = orchestrator(env, *step)
        assert result.returncode == 0, (step, result.stdout, result.stderr)

    with sqlite3.connect(tmp_path / "svc.db") as conn:
        assert conn.execute("SELECT count(*) FROM order_intents").fetchone()[0] == 0
    assert not (tmp_path / "svc-sandbox.db").exists()


def test_demo_reset_refuses_outside_sandbox_and_while_a_service_runs(tmp_path: Path) -> None:
    port = free_port()
    env = environment(tmp_path, port)
    assert orchestrator(env, "db", "upgrade").returncode == 0
    svc = Service(env, port, tmp_path / "serve.log")
    svc.start()
    busy = orchestrator(env, "demo", "reset", "--yes")
    svc.stop()
    unconfirmed = orchestrator(env, "demo", "reset")  # no terminal answers: nothing changes

    assert busy.returncode == 2
    assert "stop it first" in busy.stderr
    assert unconfirmed.returncode != 0
    assert (tmp_path / "svc.db").exists()
