"""The text `reconcile --once` prints: a reason on every account line, whole won with separators,
times in KST, each position under its institution; the same from a report's JSON (the API path)."""

from __future__ import annotations

from typing import Any

from orchestrator.domain.money import krw
from orchestrator.services.reconcile import format_report_dict

T = "2026-12-03T16:39:06+00:00"


def source(account: str, via: str, **over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "user_id": "demo",
        "account_id": account,
        "source": via,
        "taken_at": T,
        "ok": True,
        "error": None,
        "cash_field": "withdrawable",
        "observed_cash": "15234870.0000",
        "expected_cash": "15234870.0000",
        "cash_tolerance": "0",
        "baseline_at": T,
        "positions": 2,
        "transactions": None,
        "accepted": True,
    }
    return {**base, **over}


def report(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "run_id": "r1",
        "trigger": "cli",
        "status": "breaks",
        "started_at": T,
        "breaks": [
            {
                "user_id": "demo",
                "account_id": "kis-main",
                "kind": "cash_mismatch",
                "key": "cash",
                "detail": "expected 1 observed 2",
                "status": "open",
                "new": True,
            }
        ],
        "resolved": [],
        "pending": [
            {
                "user_id": "demo",
                "account_id": "kiwoom-main",
                "kind": "missing_fill",
                "key": "o1",
                "reason": "fill 30 s old, inside the 120 s too-recent window",
            }
        ],
        "sources": [
            source("ob-1", "openbanking", cash_field="deposit", positions=None, transactions=3),
            source("kis-main", "kis", observed_cash="15234871"),
            source("kiwoom-main", "kiwoom"),
            source("new-acct", "kis", expected_cash=None, baseline_at=None),
            source("down", "kis", ok=False, error="kis: breaker open"),
        ],
        "portfolios": [
            {
                "user_id": "demo",
                "cash_by_institution": {"kis": "1000000.0000", "samsung_securities": "15234870"},
                "securities_by_institution": {"kis": "718000.0000", "kiwoom": "0"},
                "positions": [
                    {
                        "institution": "kis",
                        "symbol": "005930",
                        "name": "삼성전자",
                        "quantity": 10,
                        "price": "71800.0000",
                        "market_value": "718000.0000",
                        "priced_at_cost": False,
                    }
                ],
                "cash_total": "16234870",
                "securities_total": "718000",
                "total": "16952870.0000",
                "stale_accounts": [],
            }
        ],
        "errors": [],
    }
    return {**base, **over}


def test_every_account_line_says_why() -> None:
    text = format_report_dict(report())
    line = {row.split(":")[0].strip(): row for row in text.splitlines() if " via " in row}
    samsung, kis = line["demo/ob-1 via openbanking"], line["demo/kis-main via kis"]

    assert "CLEAN - deposit 15,234,870 vs expected 15,234,870" in samsung
    assert "(difference 0, tolerance 0); 3 transaction(s) read" in samsung
    assert "BROKEN - cash_mismatch (below); withdrawable 15,234,871" in kis
    assert "(difference 1, tolerance 0)" in kis
    assert (
        "NOT JUDGED YET - fill 30 s old, inside the 120 s too-recent window"
        in (line["demo/kiwoom-main via kiwoom"])
    )
    assert (
        "FIRST READING - nothing to compare yet, accepted as the baseline"
        in (line["demo/new-acct via kis"])
    )
    assert "NOT JUDGED - reading failed: kis: breaker open" in line["demo/down via kis"]
    assert "2026-12-04 01:39:06 KST" in text  # times in Asia/Seoul
    assert ".0000" not in text


def test_positions_are_listed_under_their_institution() -> None:
    lines = format_report_dict(report()).splitlines()
    start = lines.index("Portfolio of demo:")

    assert lines[start + 1 : start + 6] == [
        "  kis: cash 1,000,000, securities 718,000",
        "    005930 삼성전자 x10 @ 71,800 = 718,000",
        "  kiwoom: cash -, securities 0",
        "  samsung_securities: cash 15,234,870, securities -",
        "  total 16,952,870 (cash 16,234,870, securities 718,000)",
    ]


def test_krw_is_whole_won_with_separators() -> None:
    assert krw("1234500.0000") == "1,234,500"
    assert krw(1234500) == "1,234,500"
    assert krw("-1500.5") == "-1,500"  # half-even rounding of a half won
    assert krw(None) == "-"


def test_a_cash_break_names_whole_won_amounts() -> None:
    """The break's own detail (shown by the CLI, API and alerts) has no `.0000` either."""
    from datetime import UTC, datetime
    from decimal import Decimal

    from orchestrator.domain import reconciliation as r

    class Reading:
        source = "openbanking"

    class Book:
        account_id = "ob-1"
        cash_field = r.CashField.DEPOSIT
        reading = Reading()
        baseline_at = datetime(2026, 12, 3, tzinfo=UTC)

    found = r._cash_break(
        Book(),  # type: ignore[arg-type]
        "deposit",
        Decimal("15234870.0000"),
        Decimal("1.0000"),
        Decimal("0.000"),
    )

    assert found.detail == (
        "deposit: expected ₩15,234,870, openbanking shows ₩1 "
        "(difference -₩15,234,869, tolerance ₩0)"
    )
