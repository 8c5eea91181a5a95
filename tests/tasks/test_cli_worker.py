"""`orchestrator worker` on the embedded default refuses clearly (exit 2): there the tasks run
in-process inside `serve`. A bad --concurrency is a usage error, not a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app

runner = CliRunner()


def test_worker_on_sqlite_says_where_the_tasks_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORCH_DATABASE__URL", f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    monkeypatch.setenv("ORCH_SECURITY__SANDBOX_KEY_FILE", str(tmp_path / "key"))
    result = runner.invoke(app, ["worker"])
    assert result.exit_code == 2, result.output
    assert "needs database.url on PostgreSQL" in result.output
    assert "Traceback" not in result.output


def test_worker_concurrency_is_bounded() -> None:
    result = runner.invoke(app, ["worker", "--concurrency", "0"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
