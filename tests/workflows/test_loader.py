"""Workflow files: validated at load, errors naming file, line, column and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.domain.errors import ConfigError
from orchestrator.workflows import commands
from orchestrator.workflows.loader import WorkflowNotFound, load_catalog
from orchestrator.workflows.spec import STEP_KINDS, WorkflowsSettings
from orchestrator.workflows.steps import REGISTRY
from tests.workflows.env import SHIPPED

GOOD_DCA = """\
workflows:
  dca:
    steps:
      - step: buy
        orders:
          - symbol: "005930"
            amount: 300000
"""


def _write(tmp_path: Path, text: str, name: str = "w.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _error(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_catalog(path)
    return str(info.value)


def test_shipped_examples_validate() -> None:
    """`workflows validate config/workflows` passes on the shipped examples."""
    text = commands.validate(SHIPPED)

    assert "ok (4 file(s), 4 workflow(s), 4 schedule(s))" in text


def test_shipped_trading_examples_default_to_approval() -> None:
    """Every shipped workflow that trades runs in approval mode."""
    catalog = load_catalog(SHIPPED)

    trading = {n: s.effective_mode for n, s in catalog.workflows.items() if s.trades}

    assert trading == {
        "monthly-dca-005930": "approval",
        "quarterly-rebalance-60-40": "approval",
    }


def test_a_misspelt_step_name_fails_naming_its_line(tmp_path: Path) -> None:
    """A misspelt step name is refused with file:line:column, the field and the known names."""
    path = _write(tmp_path, GOOD_DCA.replace("step: buy", "step: buyy"))

    message = _error(path)

    assert f"{path}:4:9: workflows.dca.steps[0].step: unknown step 'buyy'" in message
    assert "rebalance" in message


def test_validate_command_fails_on_a_misspelt_step(tmp_path: Path) -> None:
    """`workflows validate FILE` raises ConfigError (exit 2) naming the line of the bad step."""
    path = _write(tmp_path, GOOD_DCA.replace("step: buy", "step: rebalanse"))

    with pytest.raises(ConfigError, match=r"w\.yaml:4:9: .*unknown step 'rebalanse'"):
        commands.validate(path)


def test_unknown_keys_are_refused_with_their_line(tmp_path: Path) -> None:
    """A misspelt parameter inside a step is an unknown key at its own line."""
    path = _write(tmp_path, GOOD_DCA + "        pricee: {type: market}\n")

    assert f"{path}:8:9: workflows.dca.steps[0].pricee: unknown key" in _error(path)


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    """Several mistakes in one file are reported together, each with its line."""
    text = GOOD_DCA.replace("amount: 300000", "amount: 1.5") + "    mode: sometimes\n"
    path = _write(tmp_path, text)

    message = _error(path)

    assert f"{path}:7:13: workflows.dca.steps[0].orders[0].amount: money is whole won" in message
    assert f"{path}:8:5: workflows.dca.mode:" in message


def test_an_unquoted_symbol_read_as_a_number_is_explained(tmp_path: Path) -> None:
    """000660 unquoted is the YAML number 432: the error says to quote the symbol."""
    path = _write(tmp_path, GOOD_DCA.replace('"005930"', "000660"))

    assert "orders[0].symbol: write the symbol in quotes" in _error(path)


def test_a_missing_step_key_is_named(tmp_path: Path) -> None:
    """A step without `step:` is refused at the list item's line."""
    path = _write(tmp_path, GOOD_DCA.replace("- step: buy\n        orders:", "- orders:"))

    assert f"{path}:4:9: workflows.dca.steps[0]: missing `step:`" in _error(path)


def test_cross_file_duplicates_and_dangling_schedules_are_refused(tmp_path: Path) -> None:
    """A workflow defined twice, or a schedule naming no workflow, fails with both places."""
    _write(tmp_path, GOOD_DCA, "a.yaml")
    _write(
        tmp_path,
        GOOD_DCA + "schedules:\n  s:\n    workflow: nope\n    cron: '0 9 * * *'\n",
        "b.yaml",
    )

    message = _error(tmp_path)

    assert (
        f"{tmp_path / 'b.yaml'}:2:3: workflows.dca: already defined at {tmp_path / 'a.yaml'}:2:3"
        in message
    )
    assert f"{tmp_path / 'b.yaml'}:10:5: schedules.s.workflow: no workflow named 'nope'" in message


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("0 10 * * 1-5", "weekday field by name"),
        ("0 10 * *", "cron needs 5 fields"),
        ("0 25 * * *", "invalid cron expression"),
    ],
)
def test_bad_cron_expressions_are_refused(tmp_path: Path, cron: str, expected: str) -> None:
    """Schedules refuse malformed cron and numeric weekdays (APScheduler counts from Monday)."""
    text = GOOD_DCA + f"schedules:\n  s:\n    workflow: dca\n    cron: '{cron}'\n"
    path = _write(tmp_path, text)

    assert f"{path}:11:5: schedules.s.cron: " in _error(path)
    assert expected in _error(path)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            "    guardrails:\n      allowed_symbols: ['000660']\n",
            "outside guardrails.allowed_symbols",
        ),
        (
            "    guardrails:\n      price_collar_bps: 10\n",
            "every order would be blocked",
        ),
    ],
)
def test_workflow_level_contradictions_are_refused(
    tmp_path: Path, extra: str, expected: str
) -> None:
    """Symbols outside the allowed list, or a limit offset beyond the collar, fail at load."""
    text = GOOD_DCA.replace("amount: 300000", "amount: 300000\n        price: {offset_bps: 50}")
    path = _write(tmp_path, text + extra)

    assert expected in _error(path)


def test_notify_placeholders_come_from_the_declared_figures(tmp_path: Path) -> None:
    """An unknown $placeholder in a notify message is refused (no expressions, no attributes)."""
    text = (
        "workflows:\n  n:\n    steps:\n      - step: notify\n"
        "        message: 'value ${total_value.__class__} $secret'\n"
    )
    path = _write(tmp_path, text)

    assert f"{path}:5:9: workflows.n.steps[0].message: invalid placeholder" in _error(path)


def test_conditions_are_a_declared_vocabulary(tmp_path: Path) -> None:
    """A condition outside the vocabulary is an unknown key; two keys in one is refused."""
    bad = (
        GOOD_DCA + "    when:\n      - cash_above: 5\n      - {month_in: [1], weekday_in: [mon]}\n"
    )
    path = _write(tmp_path, bad)

    message = _error(path)

    assert f"{path}:9:9: workflows.dca.when[0].cash_above: unknown key" in message
    assert "when[1]: a condition has exactly one key" in message


def test_step_ids_default_to_the_kind_and_must_be_unique(tmp_path: Path) -> None:
    """Steps get ids (kind, or kind-N when repeated); explicit duplicates are refused."""
    twice = (
        GOOD_DCA
        + "      - step: notify\n        message: a\n      - step: notify\n        message: b\n"
    )
    catalog = load_catalog(_write(tmp_path, twice))

    assert [s.key for s in catalog.workflow("dca").steps] == ["buy", "notify-1", "notify-2"]
    dup = twice.replace("message: b", "message: b\n        id: buy")
    assert "duplicate step id 'buy'" in _error(_write(tmp_path, dup))


def test_unknown_workflow_names_are_reported() -> None:
    """Asking for a workflow that is not loaded names the known ones."""
    catalog = load_catalog(SHIPPED)

    with pytest.raises(WorkflowNotFound, match="known: daily-reconcile"):
        catalog.workflow("nope")


def test_registry_covers_every_step_kind() -> None:
    """Every step kind the YAML accepts has a registered planner, and nothing else is registered."""
    assert set(REGISTRY) == set(STEP_KINDS)
    assert {k for k, t in REGISTRY.items() if t.trades} == {"buy", "rebalance"}


def test_settings_section_refuses_unknown_keys() -> None:
    """The `workflows:` settings section is strict like every other section."""
    with pytest.raises(ValueError, match="Extra inputs"):
        WorkflowsSettings.model_validate({"directory": "config/workflows", "dirs": []})
