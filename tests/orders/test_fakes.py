"""The in-memory fakes behave like the ports they stand in for (no database needed)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from adapters.fake import FakeAccountSource, FakeMarketData, FakeNotifier, FakeOrderExecutor
from orchestrator.domain.alerts import Alert
from orchestrator.domain.errors import (
    AccountUnknown,
    OrderOutcomeUnknown,
    OrderRejected,
    RateLimited,
    RequestRefused,
    SourceUnavailable,
)
from orchestrator.domain.model import (
    CashBalance,
    Direction,
    OrderState,
    Position,
    Transaction,
)
from tests.orders.conftest import ACCOUNT, OTHER, START, buy

INTENT = buy("k").intent("oi-1", START)


async def test_fake_broker_books_a_lost_reply_but_not_a_refusal() -> None:
    """OrderOutcomeUnknown books the order (or not, on request); refusals never book."""
    broker = FakeOrderExecutor(clock=lambda: START)
    broker.fail_next(OrderOutcomeUnknown("fake", "timeout"))
    broker.fail_next(OrderOutcomeUnknown("fake", "HTTP 502"), booked=False)
    broker.fail_next(RateLimited("fake", "EGW00201"))
    broker.fail_next(OrderRejected("fake", "no", code="X"))

    for error in (OrderOutcomeUnknown, OrderOutcomeUnknown, RateLimited, OrderRejected):
        with pytest.raises(error):
            await broker.submit(INTENT)
    accepted = await broker.submit(INTENT)

    assert len(broker.sent) == 5
    assert [r.order_id for r in broker.book] == ["0000000001", accepted.order_id]
    assert accepted.branch == "00950"


def test_fake_broker_refuses_to_book_on_an_error_that_promises_nothing_happened() -> None:
    """Only OrderOutcomeUnknown may take effect; anything else would be an impossible broker."""
    broker = FakeOrderExecutor()

    with pytest.raises(ValueError):
        broker.fail_next(SourceUnavailable("fake", "down"), booked=True)


async def test_fake_broker_fills_cancels_and_lists_per_account() -> None:
    """Fills average their prices, a cancel marks the order, the list is per account and time."""
    broker = FakeOrderExecutor(clock=lambda: START)
    order = await broker.submit(INTENT)
    other = await broker.submit(buy("o", account=OTHER).intent("oi-2", START))

    broker.fill(order.order_id, 4, Decimal("100"))
    filled = broker.fill(order.order_id, 6, Decimal("110"))

    assert filled.avg_fill_price == Decimal("106")
    assert filled.state is OrderState.FILLED
    with pytest.raises(OrderRejected):
        await broker.cancel(filled)
    cancelled = await broker.cancel(other)
    assert cancelled.cancelled
    assert await broker.orders_since(ACCOUNT, START) == [filled]
    assert await broker.orders_since(ACCOUNT, START + timedelta(seconds=1)) == []


async def test_fake_account_source_answers_what_was_put_in() -> None:
    """Cash, positions and KST-dated transactions come back; unknown accounts and failures raise."""
    source = FakeAccountSource()
    source.set_cash(CashBalance(account=ACCOUNT, deposit=Decimal("1000"), as_of=START))
    source.set_positions(
        ACCOUNT,
        [Position(ACCOUNT, "005930", 3, Decimal("70000"), START)],
    )
    late = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)  # already the 24th in Seoul
    source.add_transactions(
        ACCOUNT,
        [
            Transaction(ACCOUNT, "t2", late, Direction.IN, Decimal("5")),
            Transaction(ACCOUNT, "t1", START, Direction.OUT, Decimal("7")),
        ],
    )

    assert (await source.cash(ACCOUNT)).deposit == Decimal("1000")
    assert [p.symbol for p in await source.positions(ACCOUNT, fresh=True)] == ["005930"]
    on_23rd = [
        t.tx_id async for t in source.transactions(ACCOUNT, date(2026, 11, 23), date(2026, 11, 23))
    ]
    assert on_23rd == ["t1"]
    assert await source.accounts("alice") == [ACCOUNT]
    with pytest.raises(AccountUnknown):
        await source.cash(OTHER)
    source.fail_next(SourceUnavailable("fake-accounts", "down"))
    with pytest.raises(SourceUnavailable):
        await source.positions(ACCOUNT)
    assert source.reads == 6


async def test_fake_market_data_and_notifier() -> None:
    """Quotes carry the clock's time; the notifier records alerts and never raises on failure."""
    market = FakeMarketData(clock=lambda: START)
    market.set_price("005930", Decimal("70100"), "Samsung Electronics")
    notifier = FakeNotifier()
    notifier.fail_next()

    quote = await market.quote("005930")
    await notifier.notify(Alert(key="a", text="lost"))
    await notifier.notify(Alert(key="b", text="delivered"))

    assert (quote.price, quote.as_of) == (Decimal("70100"), START)
    with pytest.raises(RequestRefused):
        await market.quote("999999")
    assert [a.key for a in notifier.sent] == ["b"]
    assert [a.key for a in notifier.failed] == ["a"]
