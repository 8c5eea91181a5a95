from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app

runner = CliRunner()


def test_config_check_accepts_the_shipped_config() -> None:
    """`config check` exits 0 on the embedded default."""
    result = runner.invoke(app, ["config", "check"])

    assert result.exit_code == 0, result.output
    assert "ok" in result.output


def test_config_check_names_the_line_of_a_misspelt_key(tmp_path: Path) -> None:
    """`config check FILE` exits 2 and names the line of a typo."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("mode: sandbox\ndatabse:\n  url: x\n", encoding="utf-8")

    result = runner.invoke(app, ["config", "check", str(bad)])

    assert result.exit_code == 2
    assert f"{bad}:2:1: databse: unknown key" in result.output


def test_audit_verify_fails_on_a_tampered_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`audit verify` exits 1 and names the edited event."""
    import asyncio
    from datetime import UTC, datetime

    from sqlalchemy import update

    from adapters.db.audit import DbAuditLog
    from adapters.db.engine import Database
    from adapters.db.tables import AuditEventRow
    from orchestrator.domain.model import AuditEvent

    url = f"sqlite+aiosqlite:///{tmp_path / 'a.db'}"
    monkeypatch.setenv("ORCH_DATABASE__URL", url)
    monkeypatch.setenv("ORCH_SECURITY__SANDBOX_KEY_FILE", str(tmp_path / "key"))
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0

    async def seed_and_tamper() -> None:
        db = Database(url)
        audit = DbAuditLog(db)
        for i in range(3):
            await audit.append(
                AuditEvent(datetime(2026, 1, 1, tzinfo=UTC), "op", "killswitch.on", f"s{i}")
            )
        async with db.session() as s:
            await s.execute(
                update(AuditEventRow).where(AuditEventRow.seq == 2).values(actor="mallory")
            )  # type: ignore[arg-type]
        await db.dispose()

    asyncio.run(seed_and_tamper())
    result = runner.invoke(app, ["audit", "verify"])

    assert result.exit_code == 1
    assert "seq=2" in result.output


def test_workflows_validate_accepts_the_shipped_config() -> None:
    """`workflows validate config/` checks settings and every shipped workflow."""
    result = runner.invoke(app, ["workflows", "validate", "config"])

    assert result.exit_code == 0, result.output
    assert "4 workflow(s)" in result.output


def test_workflows_validate_names_the_line_of_a_misspelt_step(tmp_path: Path) -> None:
    """A misspelt step kind fails with file:line:column."""
    import shutil

    for f in Path("config/workflows").glob("*.yaml"):
        shutil.copy(f, tmp_path / f.name)
    dca = tmp_path / "monthly-dca.yaml"
    text = dca.read_text(encoding="utf-8")
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "step: buy" in ln)
    dca.write_text(text.replace("step: buy", "step: bye"), encoding="utf-8")

    result = runner.invoke(app, ["workflows", "validate", str(tmp_path)])

    assert result.exit_code == 2
    assert f"{dca}:{line}:" in result.output
    assert "unknown step 'bye'" in result.output
