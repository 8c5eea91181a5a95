"""The CLI against the embedded default (in-process sandboxes), as a user on a fresh checkout."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app

runner = CliRunner()
SAMSUNG_CMA = "ob-0fff45b902a2"


@pytest.fixture(autouse=True)
def _fresh_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_DATABASE__URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("ORCH_SECURITY__SANDBOX_KEY_FILE", str(tmp_path / "key"))
    monkeypatch.setenv("ORCH_SANDBOX__EXPOSE", "false")  # never attach to a service running here
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0


def test_orders_place_buys_at_market_and_the_position_shows() -> None:
    """`orders place` buys 1 share of 005930 at market; the KIS balance read shows 11 shares."""
    result = runner.invoke(
        app, ["orders", "place", "--symbol", "005930", "--side", "buy", "--qty", "1"]
    )

    assert result.exit_code == 0, result.output
    assert "-> accepted" in result.output
    assert "005930 삼성전자 x11" in result.output
    listed = runner.invoke(app, ["orders", "list"])
    assert "005930" in listed.output
    assert "accepted" in listed.output


def test_accounts_history_streams_the_whole_samsung_history() -> None:
    """Consent is provisioned and every transaction of the demo CMA is read across pages."""
    result = runner.invoke(app, ["accounts", "history", "--account", SAMSUNG_CMA, "--days", "400"])

    assert result.exit_code == 0, result.output
    assert "80 transaction(s)" in result.output
    assert "balance ₩15,234,870" in result.output.splitlines()[-2]


def test_reconcile_once_prints_json() -> None:
    """`reconcile --once --json` runs one reconciliation and prints its report."""
    import json

    result = runner.invoke(app, ["reconcile", "--once", "--json"])

    report = json.loads(result.stdout)
    assert report["status"] == "clean"
    assert result.exit_code == 0


def test_kill_switch_blocks_cli_orders() -> None:
    """With the kill switch on, `orders place` sends nothing and says why."""
    assert runner.invoke(app, ["killswitch", "on", "--reason", "drill"]).exit_code == 0

    result = runner.invoke(
        app, ["orders", "place", "--symbol", "005930", "--side", "buy", "--qty", "1"]
    )

    assert result.exit_code == 1
    assert "kill_switch" in result.output


def test_jobs_without_a_service_show_and_pause_but_never_fire() -> None:
    """`jobs list` shows each job's next fire in KST (the DCA on the next month's first trading
    day, as `workflows list` says); pause/resume are recorded; `jobs run` needs the service."""
    listed = runner.invoke(app, ["jobs", "list"])
    paused = runner.invoke(app, ["jobs", "pause", "token-upkeep"])
    shown = runner.invoke(app, ["jobs", "list"])
    resumed = runner.invoke(app, ["jobs", "resume", "token-upkeep"])
    fire = runner.invoke(app, ["jobs", "run", "orders-upkeep"])
    unknown = runner.invoke(app, ["jobs", "pause", "no-such-job"])
    workflows = runner.invoke(app, ["workflows", "list"])

    assert listed.exit_code == 0, listed.output
    assert "working directly" in listed.output
    dca = next(x for x in listed.output.splitlines() if x.startswith("workflow.monthly-dca"))
    when = dca.split("; next ")[1].rsplit(":", 1)[0]  # "2027-01-04 09:30" (seconds dropped)
    assert f"next {when} KST" in workflows.output
    assert paused.exit_code == 0
    assert "token-upkeep  [token_upkeep]  every 3600s; PAUSED by cli" in shown.output
    assert resumed.exit_code == 0
    assert "PAUSED" not in runner.invoke(app, ["jobs", "list"]).output
    assert fire.exit_code == 2
    assert "jobs run inside `orchestrator serve`" in fire.output
    assert unknown.exit_code == 2
    assert "no job no-such-job" in unknown.output


def test_consent_commands_without_a_service_print_one_line_in_kst() -> None:
    status = runner.invoke(app, ["consent", "status"])
    started = runner.invoke(app, ["consent", "start"])
    revoked = runner.invoke(app, ["consent", "revoke"])

    assert status.exit_code == 0, status.output
    assert "demo: granted, scope 'login inquiry', token expires 20" in status.output
    assert "KST (90 days left)" in status.output
    assert started.exit_code == 0
    assert "client_info=demo" in started.output
    assert revoked.exit_code == 0
    assert "demo: revoked" in revoked.output


def test_breaks_commands_without_a_service() -> None:
    """No break after a clean run; bad input is exit 2 naming the option; an unknown id exit 1."""
    assert runner.invoke(app, ["reconcile", "--once"]).exit_code == 0
    listed = runner.invoke(app, ["breaks", "list"])
    bogus = runner.invoke(app, ["breaks", "list", "--status", "bogus"])
    blank = runner.invoke(app, ["breaks", "ack", "1", "--comment", " "])
    unknown = runner.invoke(app, ["breaks", "ack", "424242", "--comment", "why"])

    assert listed.exit_code == 0, listed.output
    assert "no active breaks" in listed.output
    assert bogus.exit_code == 2
    assert "--status" in bogus.output
    assert blank.exit_code == 2
    assert "--comment" in blank.output
    assert unknown.exit_code == 1
    assert "424242" in unknown.output
