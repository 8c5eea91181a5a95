"""The `reconciliation:` settings section: the documented YAML loads; mistakes are refused."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from orchestrator.domain.errors import ConfigError
from orchestrator.domain.reconciliation import CashField
from orchestrator.services.reconcile import ReconciliationSettings
from orchestrator.settings import load_settings

EXAMPLE = """\
mode: sandbox
reconciliation:
  cash_tolerance_krw: 0
  fee_tolerance_rate: 0.003       # commission + tax allowance per KRW traded since the baseline
  too_recent_seconds: 120         # fills / orders / transfers younger than this are not judged
  transfer_match_window_seconds: 3600
  transfer_min_krw: 0             # OUT lines below this are not treated as transfers
  stale_after_seconds: 900
  order_lookback_days: 7
  transaction_lookback_days: 31
  accounts:
    - user: demo
      account: samsung-cma
      source: openbanking
      positions: false
      transactions: true
      transfers_to: kis-main
    - user: demo
      account: kis-main
      source: kis
      cash_field: deposit
      orders: kis
"""


def test_documented_yaml_section_loads_through_settings(tmp_path: Path) -> None:
    """The example section validates through LoadedSettings.section with exact Decimals."""
    path = tmp_path / "orchestrator.yaml"
    path.write_text(EXAMPLE, encoding="utf-8")

    section = load_settings(path).section("reconciliation", ReconciliationSettings)

    assert section.fee_tolerance_rate == Decimal("0.003")
    assert section.accounts[1].cash_field is CashField.DEPOSIT
    assert list(section.users()) == ["demo"]
    tol = section.tolerances()
    assert tol.transfer_window == timedelta(hours=1)
    assert tol.too_recent == timedelta(minutes=2)


def test_unknown_key_in_the_section_is_refused_with_its_line(tmp_path: Path) -> None:
    """A misspelt key inside an account is a ConfigError naming file and line."""
    path = tmp_path / "orchestrator.yaml"
    path.write_text(EXAMPLE.replace("      orders: kis", "      order: kis"), encoding="utf-8")

    with pytest.raises(ConfigError, match=r":22:7: reconciliation\.accounts\[1\]\.order: unknown"):
        load_settings(path).section("reconciliation", ReconciliationSettings)


@pytest.mark.parametrize(
    ("accounts", "message"),
    [
        ([{"user": "u", "account": "a", "source": "s"}] * 2, "listed twice"),
        (
            [{"user": "u", "account": "a", "source": "s", "transfers_to": "b"}],
            "needs transactions",
        ),
        (
            [
                {
                    "user": "u",
                    "account": "a",
                    "source": "s",
                    "transactions": True,
                    "transfers_to": "b",
                },
                {"user": "v", "account": "b", "source": "s"},
            ],
            "another account of user u",
        ),
    ],
)
def test_inconsistent_accounts_are_refused(accounts: list[dict[str, object]], message: str) -> None:
    """Duplicate accounts and transfer targets that are not the same user's account are refused."""
    with pytest.raises(ValidationError, match=message):
        ReconciliationSettings.model_validate({"accounts": accounts})


def test_negative_tolerance_is_refused() -> None:
    """Tolerances cannot be negative."""
    with pytest.raises(ValidationError):
        ReconciliationSettings.model_validate({"cash_tolerance_krw": -1})
