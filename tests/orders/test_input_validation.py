"""Order input is checked before anything is written: exit 2 naming the field, no intent row."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.domain.errors import InvalidInput
from orchestrator.domain.order_input import check_order_input

runner = CliRunner()


@pytest.mark.parametrize(
    ("symbol", "qty", "price", "field", "text"),
    [
        ("005930", 0, None, "qty", "must be positive"),
        ("005930", 10**20, None, "qty", "exceeds the broker's limit"),
        ("005930", 1, Decimal(-100), "price", "must be 0 or more"),
        ("005930", 1, Decimal("70000.5"), "price", "not whole KRW"),
        ("005930", 1, Decimal(70001), "price", "not on the KRX tick"),
        ("5930", 1, None, "symbol", "6-digit"),
        ("00593A", 1, None, "symbol", "6-digit"),
    ],
)
def test_bad_input_is_refused_naming_the_field(
    symbol: str, qty: int, price: Decimal | None, field: str, text: str
) -> None:
    with pytest.raises(InvalidInput, match=text) as refused:
        check_order_input(symbol=symbol, quantity=qty, limit_price=price)
    assert refused.value.field == field


@pytest.mark.parametrize("price", [None, Decimal(70000), Decimal(1999), Decimal(35125)])
def test_good_input_passes(price: Decimal | None) -> None:
    """Stock ticks by band; 35,125 is on the ETF grid (5 won), left for the broker to judge."""
    check_order_input(symbol="005930", quantity=3, limit_price=price)


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cli.db"
    monkeypatch.setenv("ORCH_DATABASE__URL", f"sqlite+aiosqlite:///{path}")
    monkeypatch.setenv("ORCH_SECURITY__SANDBOX_KEY_FILE", str(tmp_path / "key"))
    monkeypatch.setenv("ORCH_SANDBOX__EXPOSE", "false")
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    return path


def _intents(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM order_intents").fetchone()[0])


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["--qty", "99999999999999999999"], "--qty: 99,999,999,999,999,999,999 exceeds"),
        (["--qty", "1", "--price", "-100"], "--price: must be 0 or more, not -100"),
        (["--qty", "1", "--price", "70001"], "--price: 70,001 is not on the KRX tick"),
        (["--qty", "1", "--price", "abc"], "price"),
        (["--qty", "1", "--symbol", "12345X"], "--symbol: '12345X' is not a 6-digit"),
    ],
)
def test_the_cli_exits_2_and_writes_nothing(db: Path, args: list[str], text: str) -> None:
    base = ["orders", "place", "--side", "buy", "--no-show-balance"]
    if "--symbol" not in args:
        base += ["--symbol", "005930"]
    result = runner.invoke(app, [*base, *args])

    assert result.exit_code == 2, result.output
    assert text in result.output
    assert "Traceback" not in result.output
    assert _intents(db) == 0


def test_a_vendor_refusal_shows_code_and_message_and_is_rejected(db: Path) -> None:
    """70,050 could be an ETF price, so KIS judges it: APBK0506 with its msg1, `rejected`."""
    place = ["orders", "place", "--side", "buy", "--symbol", "005930", "--qty", "1"]
    result = runner.invoke(app, [*place, "--price", "70050", "--no-show-balance"])

    assert result.exit_code == 1
    assert "-> rejected code APBK0506: 주식주문호가단위 오류입니다." in result.output
    with sqlite3.connect(db) as conn:
        states = [r[0] for r in conn.execute("SELECT state FROM order_intents")]
    assert states == ["rejected"]
