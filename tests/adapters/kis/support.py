"""Small builders shared by the KIS adapter tests."""

from __future__ import annotations

import itertools
from decimal import Decimal

from orchestrator.domain.model import AccountRef, OrderIntent, OrderType, Side
from tests.adapters.kis.conftest import SESSION_TIME

_ids = itertools.count(1)


def intent(
    account: AccountRef,
    symbol: str = "005930",
    *,
    side: Side = Side.BUY,
    qty: int = 1,
    price: int | None = None,
) -> OrderIntent:
    """A market order (or a limit order when `price` is given)."""
    n = next(_ids)
    return OrderIntent(
        id=f"intent-{n}",
        idempotency_key=f"test-{n}",
        account=account,
        symbol=symbol,
        side=side,
        quantity=qty,
        order_type=OrderType.MARKET if price is None else OrderType.LIMIT,
        created_at=SESSION_TIME,
        limit_price=None if price is None else Decimal(price),
    )
