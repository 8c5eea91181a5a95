"""Portfolio valuation with real-time prices (issue 16 deliverable 3): a fresh stream price
values a position ahead of the account read's own last price, and every position says where
its price came from and when, so the displays can show its age."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from adapters.db.engine import Database
from orchestrator.domain.model import Quote
from orchestrator.domain.portfolio import consolidate
from tests.reconciliation.support import KIS, NOW, position, snapshot
from tests.reconciliation.test_service import World


def test_a_stream_quote_values_the_position_and_is_dated() -> None:
    """A quote in `prices` wins and carries its source and time; a position without one is
    priced by the read (dated by the read), one with neither at cost (undated)."""
    kis = snapshot(KIS, 100_000)
    kis = type(kis)(
        account=KIS,
        source="kis",
        taken_at=NOW - timedelta(minutes=3),
        cash=kis.cash,
        positions=(
            position(KIS, "005930", 10, last_price=Decimal(71_000)),
            position(KIS, "035720", 5, last_price=Decimal(40_000)),
            position(KIS, "000660", 2, avg_price=150_000),
        ),
    )
    streamed = Quote("005930", Decimal(71_500), NOW - timedelta(seconds=2), source="stream")

    p = consolidate("demo", [kis], as_of=NOW, prices={"005930": streamed})
    by_symbol = {v.symbol: v for v in p.positions}

    assert (by_symbol["005930"].price, by_symbol["005930"].market_value) == (
        Decimal(71_500),
        Decimal(715_000),
    )
    assert by_symbol["005930"].price_source == "stream"
    assert by_symbol["005930"].priced_at == NOW - timedelta(seconds=2)
    assert (by_symbol["035720"].price_source, by_symbol["035720"].priced_at) == (
        "",
        NOW - timedelta(minutes=3),
    )
    assert by_symbol["000660"].priced_at_cost
    assert by_symbol["000660"].priced_at is None


async def test_reconciliation_values_positions_at_fresh_stream_prices(db: Database) -> None:
    """The service asks for live prices at valuation time; the stored portfolio (what the API
    and console show) has the stream price, its source and its time."""
    at = NOW + timedelta(minutes=10) - timedelta(seconds=1)
    w = World(
        db, live_prices=lambda: {"005930": Quote("005930", Decimal(72_000), at, "", "stream")}
    )

    report = await w.run()
    stored = await w.store.portfolio("demo")

    (p,) = report.portfolios
    (held,) = p.positions
    assert (held.price, held.price_source, held.priced_at) == (Decimal(72_000), "stream", at)
    assert stored is not None
    (shown,) = stored["positions"]
    assert (shown["price"], shown["price_source"]) == ("72000", "stream")
    assert shown["priced_at"] is not None
    assert stored["total"] == str(500_000 + 1_000_000 + 10 * 72_000)
