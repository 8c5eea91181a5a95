from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.domain.model import (
    AccountKind,
    AccountRef,
    Break,
    BreakKind,
    CashBalance,
    Direction,
    Fill,
    Institution,
    OrderIntent,
    OrderType,
    Position,
    Quote,
    Side,
    Transaction,
)
from orchestrator.domain.money import to_money

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
ACCOUNT = AccountRef("demo", "kis", Institution.KIS, AccountKind.BROKERAGE, "50000000-01")

VALID = {
    CashBalance: dict(
        account=ACCOUNT,
        deposit=Decimal(1),
        as_of=NOW,
        orderable=Decimal(1),
        withdrawable=Decimal(1),
    ),
    Position: dict(
        account=ACCOUNT,
        symbol="005930",
        quantity=1,
        avg_price=Decimal(1),
        as_of=NOW,
        last_price=Decimal(1),
    ),
    Transaction: dict(
        account=ACCOUNT,
        tx_id="t",
        occurred_at=NOW,
        direction=Direction.IN,
        amount=Decimal(1),
        balance_after=Decimal(1),
    ),
    Quote: dict(symbol="005930", price=Decimal(1), as_of=NOW),
    Fill: dict(
        order_id="1",
        account=ACCOUNT,
        symbol="005930",
        side=Side.BUY,
        quantity=1,
        price=Decimal(1),
        filled_at=NOW,
    ),
    Break: dict(
        kind=BreakKind.CASH_MISMATCH,
        account_id="kis",
        key="cash",
        detail="",
        expected=Decimal(1),
        observed=Decimal(1),
    ),
}
MONEY_FIELDS = [
    (cls, f.name)
    for cls, kwargs in VALID.items()
    for f in dataclasses.fields(cls)
    if f.name in kwargs and isinstance(kwargs[f.name], Decimal)
]


@pytest.mark.parametrize(
    ("cls", "field"), MONEY_FIELDS, ids=[f"{c.__name__}.{f}" for c, f in MONEY_FIELDS]
)
def test_a_float_never_enters_a_money_field(cls: type, field: str) -> None:
    """Every Decimal field of the domain refuses a float at construction."""
    kwargs = dict(VALID[cls])
    cls(**kwargs)  # the valid form constructs

    kwargs[field] = 1.5

    with pytest.raises(TypeError, match="money must be Decimal"):
        cls(**kwargs)


def test_limit_order_price_refuses_float() -> None:
    """An order intent's limit price is money too."""
    with pytest.raises(TypeError):
        OrderIntent(
            "i", "k", ACCOUNT, "005930", Side.BUY, 1, OrderType.LIMIT, NOW, limit_price=70000.0
        )  # type: ignore[arg-type]


def test_quantities_are_whole_shares() -> None:
    """Share counts are int: a float quantity is refused."""
    with pytest.raises(TypeError, match="quantity must be int"):
        Position(ACCOUNT, "005930", 1.0, Decimal(1), NOW)  # type: ignore[arg-type]


def test_naive_datetimes_are_refused() -> None:
    """Domain datetimes must be timezone-aware."""
    with pytest.raises(ValueError, match="timezone-aware"):
        CashBalance(ACCOUNT, Decimal(1), datetime(2026, 1, 1))  # noqa: DTZ001


def test_to_money_refuses_float_and_parses_vendor_strings() -> None:
    """Vendor strings (with commas) parse exactly; floats are refused."""
    assert to_money("1,234,567") == Decimal(1234567)
    assert to_money("0012.50") == Decimal("12.50")
    with pytest.raises(TypeError):
        to_money(0.1)


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_to_money_is_exact_for_every_krw_amount(amount: int) -> None:
    """Any KRW integer survives a round trip through its string form."""
    assert to_money(str(amount)) == Decimal(amount)
