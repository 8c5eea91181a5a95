"""deploy/prometheus/alerts.yml: valid, unit-tested with promtool, and only on metrics we export."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from adapters.db import migrate
from orchestrator import bootstrap
from orchestrator.settings import load_settings
from tests.support.databases import IN_CI
from tests.support.figures import record

RULES = Path(__file__).parents[2] / "deploy" / "prometheus"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None and not IN_CI,
    reason="promtool not installed (Debian package prometheus; .ci/run installs it)",
)


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None, "promtool is required in CI (apt-get install prometheus)"
    return subprocess.run(
        [PROMTOOL, *args], cwd=RULES, capture_output=True, text=True, timeout=120, check=False
    )


@needs_promtool
def test_promtool_check_rules_accepts_the_rules() -> None:
    """The rule file parses and every expression is valid PromQL."""
    result = _promtool("check", "rules", "alerts.yml")

    record("alert rules", promtool_check="ok" if result.returncode == 0 else "FAILED")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@needs_promtool
def test_promtool_unit_tests_pass_for_every_rule() -> None:
    """alerts_test.yml fires (and holds back) each alert; every rule has a test case."""
    rules = yaml.safe_load((RULES / "alerts.yml").read_text())
    names = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    tests = yaml.safe_load((RULES / "alerts_test.yml").read_text())
    tested = {c["alertname"] for t in tests["tests"] for c in t.get("alert_rule_test", [])}

    result = _promtool("test", "rules", "alerts_test.yml")

    record(
        "alert rules",
        rules=len(names),
        unit_tested=len(tested & names),
        promtool_test="ok" if result.returncode == 0 else "FAILED",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert names == tested


@pytest.fixture
async def metrics_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    monkeypatch.setenv("ORCH_DATABASE__URL", f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    monkeypatch.setenv("ORCH_SECURITY__SANDBOX_KEY_FILE", str(tmp_path / "key"))
    container = bootstrap.build(load_settings(Path("config/orchestrator.yaml")))
    await migrate.upgrade(container.db)
    async with bootstrap.running(container):
        api = bootstrap.build_api(container)
        transport = httpx.ASGITransport(app=api)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield (await client.get("/metrics")).text
    await container.close()


async def test_every_metric_the_rules_use_is_exported(metrics_text: str) -> None:
    """No rule watches a metric the service does not export (a silent rule never fires)."""
    used = set(re.findall(r"\borchestrator_[a-z_]+", (RULES / "alerts.yml").read_text()))
    exported: set[str] = set()
    for family in text_string_to_metric_families(metrics_text):
        exported.update(sample.name for sample in family.samples)
        exported.add(family.name)
    # Counters render as <name>_total; declared families without samples yet still show HELP.
    declared = set(re.findall(r"^# HELP (\S+)", metrics_text, re.M))

    missing = {m for m in used if m not in exported and m not in declared}
    assert used, "the rules name no orchestrator metric"
    assert missing == set()
