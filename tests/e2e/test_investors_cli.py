"""`orchestrator investors …` on the embedded default: the seed import is idempotent, a bad seed
is exit 2 naming file, line and field, a duplicate create is exit 1 naming the existing one."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app

runner = CliRunner()

SEED = """investors:
  - id: kim
    display_name: 김철수
    accounts:
      - {id: kim-kis, source: kis}
"""


@pytest.fixture(autouse=True)
def _fresh_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_DATABASE__URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("ORCH_SECURITY__SANDBOX_KEY_FILE", str(tmp_path / "key"))
    monkeypatch.setenv("ORCH_SANDBOX__EXPOSE", "false")
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0


def test_import_twice_creates_once_and_the_demo_investor_is_there(tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text(SEED, encoding="utf-8")
    first = runner.invoke(app, ["investors", "import", str(seed)])
    assert first.exit_code == 0, first.output
    assert "1 investor(s) and 1 account(s) created" in first.output
    second = runner.invoke(app, ["investors", "import", str(seed)])
    assert second.exit_code == 0, second.output
    assert "0 investor(s) and 0 account(s) created, 2 already present" in second.output
    listed = runner.invoke(app, ["investors", "list"])
    assert listed.output.split("\n")[:2] == ["demo 김데모 [active]", "kim 김철수 [active]"]
    shown = runner.invoke(app, ["investors", "show", "kim"])
    assert "kim-kis via kis (seed)" in shown.output


def test_bad_seed_and_duplicate_are_clear_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("investors:\n  - id: kim\n    colour: red\n", encoding="utf-8")
    result = runner.invoke(app, ["investors", "import", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:3:" in result.output
    assert "Traceback" not in result.output
    dup = runner.invoke(app, ["investors", "create", "demo"])
    assert dup.exit_code == 1
    assert "investor demo already exists" in dup.output


def test_discover_and_the_consolidated_view() -> None:
    """After consent (provisioned in sandbox mode), discovery registers every registration at
    every institution; the view groups the accounts by institution, masked only."""
    found = runner.invoke(app, ["investors", "discover", "demo"])
    assert found.exit_code == 0, found.output
    assert "(discovered)" in found.output
    assert "120260101" not in found.output  # no fintech_use_num is printed
    view = runner.invoke(app, ["investors", "view", "demo"])
    assert view.exit_code == 0, view.output
    assert "240 samsung_securities" in view.output
    assert "243 kis" in view.output
    assert "no finished reconciliation yet" in view.output


def test_attach_kis_proves_the_key_and_detach_deletes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The key comes from the environment (or a hidden prompt), never an argument; a wrong key
    is exit 2 with KIS's words and nothing stored."""
    assert runner.invoke(app, ["investors", "create", "kim"]).exit_code == 0
    monkeypatch.setenv("ORCH_KIS_APP_KEY", "PSwrongKey000000000000000000000000001")
    monkeypatch.setenv("ORCH_KIS_APP_SECRET", "nope")
    wrong = runner.invoke(app, ["investors", "attach-kis", "kim", "--account", "50012345-01"])
    assert wrong.exit_code == 2, wrong.output
    assert "KIS refused the key" in wrong.output
    assert "credential" not in runner.invoke(app, ["investors", "show", "kim"]).output

    monkeypatch.setenv("ORCH_KIS_APP_KEY", "PSdemoAppKeyReal00000000000000000001")
    monkeypatch.setenv("ORCH_KIS_APP_SECRET", SANDBOX_SECRET)
    good = runner.invoke(app, ["investors", "attach-kis", "kim", "--account", "50012345-01"])
    assert good.exit_code == 0, good.output
    assert "key ****0001 attached" in good.output
    assert "SandboxDemoSecret" not in good.output
    shown = runner.invoke(app, ["investors", "show", "kim"]).output
    assert "credential kis (real) key ****0001" in shown
    assert runner.invoke(app, ["investors", "detach", "kim", "kis"]).exit_code == 0
    assert runner.invoke(app, ["investors", "detach", "kim", "kis"]).exit_code == 1


SANDBOX_SECRET = (
    "SandboxDemoSecretRealNotARealKISSandboxDemoSecretRealNotARealKISSandboxDemoSecretRealNot"
    "ARealKISSandboxDemoSecretRealNotARealKISSandboxDemoSecretRealNotARealKISSandboxDemoSecretRea"
)
