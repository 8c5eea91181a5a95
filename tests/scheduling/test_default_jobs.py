"""The default schedule is declared once (DEFAULT_JOBS): the README's table is that declaration,
the shipped configuration runs it, and each of its jobs has an action wired in bootstrap."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from orchestrator import bootstrap
from orchestrator.scheduling import DEFAULT_JOBS, SchedulerSettings
from orchestrator.scheduling.jobs import default_jobs_table

README = Path("README.md")


def _readme_table() -> str:
    text = README.read_text(encoding="utf-8")
    found = re.search(r"<!-- default-jobs:begin -->\n(.*?)\n<!-- default-jobs:end -->", text, re.S)
    assert found is not None, "README lost its default-jobs table"
    return found.group(1).strip()


def test_readme_table_is_the_declared_default_schedule() -> None:
    assert _readme_table() == default_jobs_table()


def test_default_schedule_holds_every_upkeep_the_docs_promise() -> None:
    actions = {j.action for j in DEFAULT_JOBS}
    assert {"reconcile", "token_upkeep", "orders_upkeep"} <= actions
    documented = set(re.findall(r"\| `([a-z0-9-]+)` \|", _readme_table()))
    assert documented == {j.id for j in DEFAULT_JOBS}


def test_shipped_config_runs_the_default_schedule_with_every_action_wired(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORCH_DATABASE__URL", f"sqlite+aiosqlite:///{tmp_path / 'j.db'}")
    monkeypatch.setenv("ORCH_SECURITY__SANDBOX_KEY_FILE", str(tmp_path / "key"))
    loaded = bootstrap.load(Path("config/orchestrator.yaml"), configure_logs=False)
    assert loaded.section("scheduler", SchedulerSettings).jobs == DEFAULT_JOBS
    container = bootstrap.build(loaded)
    missing = {j.action for j in DEFAULT_JOBS} - set(container.actions)
    assert missing == set()
