"""Every port method of the Kiwoom adapter against the Kiwoom sandbox over real HTTP semantics."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from orchestrator.domain.errors import AccountUnknown
from orchestrator.domain.model import (
    AccountRef,
    Direction,
    Institution,
    OrderIntent,
    OrderState,
    OrderType,
    Side,
)
from tests.adapters.kiwoom.conftest import ORDER_PATH, Harness, HarnessFactory, many_holdings


def intent(
    h: Harness, n: int, symbol: str, side: Side, qty: int, limit: int | None = None
) -> OrderIntent:
    return OrderIntent(
        id=f"intent-{n}",
        idempotency_key=f"key-{n}",
        account=h.account,
        symbol=symbol,
        side=side,
        quantity=qty,
        order_type=OrderType.MARKET if limit is None else OrderType.LIMIT,
        limit_price=None if limit is None else Decimal(limit),
        created_at=h.time.now(),
    )


async def test_accounts_come_from_the_token_not_from_config(h: Harness) -> None:
    assert h.account.external_ref == "5012345611"
    assert h.account.masked_number == "******5611"
    assert h.account.institution is Institution("264")
    assert h.account.institution.name == "KIWOOM"
    assert h.account.account_id == "kiwoom-main"
    assert await h.kiwoom.accounts.accounts("someone-else") == []
    assert "ka00001" in h.spy.api_ids()


async def test_cash_and_positions_read_padded_strings(h: Harness) -> None:
    cash = await h.kiwoom.accounts.cash(h.account, fresh=True)
    assert cash.deposit == Decimal(20_000_000)
    assert cash.orderable == Decimal(20_000_000)
    positions = {p.symbol: p for p in await h.kiwoom.accounts.positions(h.account, fresh=True)}
    assert set(positions) == {"005930", "069500"}  # A-prefix gone
    assert positions["005930"].quantity == 20
    assert positions["005930"].avg_price == Decimal(68_000)
    assert positions["069500"].last_price == Decimal(35_000)


async def test_market_buy_then_positions_cash_and_history(h: Harness) -> None:
    report = await h.kiwoom.executor.submit(intent(h, 1, "000660", Side.BUY, 2))
    assert report.state is OrderState.ACCEPTED
    assert len(report.order_id) == 7
    cash = await h.kiwoom.accounts.cash(h.account)  # cache dropped by the order
    assert cash.deposit == Decimal(20_000_000 - 2 * 182_000)
    held = {p.symbol: p.quantity for p in await h.kiwoom.accounts.positions(h.account)}
    assert held["000660"] == 2
    listed = await h.kiwoom.executor.orders_since(h.account, h.time.now() - timedelta(hours=1))
    assert [(r.order_id, r.state, r.filled_quantity) for r in listed] == [
        (report.order_id, OrderState.FILLED, 2)
    ]
    assert listed[0].avg_fill_price == Decimal(182_000)
    today = h.time.now().date()
    moves = [m async for m in h.kiwoom.accounts.transactions(h.account, today, today)]
    assert [(m.direction, m.amount) for m in moves] == [(Direction.OUT, Decimal(364_000))]


async def test_limit_order_rests_then_cancel(h: Harness) -> None:
    report = await h.kiwoom.executor.submit(intent(h, 2, "005930", Side.SELL, 5, 80_000))
    cash = await h.kiwoom.accounts.cash(h.account, fresh=True)
    assert cash.orderable == Decimal(20_000_000)
    cancelled = await h.kiwoom.executor.cancel(report)
    assert cancelled.state is OrderState.CANCELLED
    assert cancelled.cancelled
    listed = await h.kiwoom.executor.orders_since(h.account, h.time.now() - timedelta(minutes=5))
    assert [(r.order_id, r.state, r.limit_price) for r in listed] == [
        (report.order_id, OrderState.CANCELLED, Decimal(80_000))
    ]
    sent = [r for r in h.spy.requests if r.url.path == ORDER_PATH]
    assert [r.headers["api-id"] for r in sent] == ["kt10001", "kt10003"]
    assert all(r.method == "POST" for r in h.spy.requests)


async def test_quote_takes_the_absolute_signed_price(h: Harness) -> None:
    quote = await h.kiwoom.market.quote("000660")
    assert quote.price == Decimal(182_000)  # "-182000" on the wire
    assert quote.name == "SK하이닉스"


async def test_many_quotes_in_batches_of_100(
    make_harness: HarnessFactory, seed: dict[str, Any]
) -> None:
    h = await make_harness("real", seed_data=many_holdings(seed, "5012345611", 250))
    symbols = [f"{200000 + i}" for i in range(250)]
    quotes = await h.kiwoom.market.quotes(symbols)
    assert [quotes[s].price for s in symbols[:3]] == [
        Decimal(10_000),
        Decimal(10_001),
        Decimal(10_002),
    ]
    assert len(quotes) == 250
    assert h.spy.api_ids().count("ka10095") == 3


async def test_mock_lacks_multi_quote_so_single_quotes_are_used(
    make_harness: HarnessFactory,
) -> None:
    h = await make_harness("mock")
    quotes = await h.kiwoom.market.quotes(["005930", "000660"])
    assert quotes["005930"].price == Decimal(71_500)
    assert h.spy.api_ids().count("ka10001") == 2


async def test_other_accounts_are_unknown(h: Harness) -> None:
    stranger = AccountRef(
        user_id="demo",
        account_id="x",
        institution=h.account.institution,
        kind=h.account.kind,
        external_ref="9999999911",
    )
    try:
        await h.kiwoom.accounts.cash(stranger)
    except AccountUnknown:
        pass
    else:
        raise AssertionError("an account not bound to the key was read")


async def test_positions_and_orders_over_many_pages(
    make_harness: HarnessFactory, seed: dict[str, Any]
) -> None:
    h = await make_harness("real", seed_data=many_holdings(seed, "5012345611", 95))
    h.state.page_size = 7
    positions = await h.kiwoom.accounts.positions(h.account, fresh=True)
    assert len(positions) == 97
    assert h.spy.api_ids().count("kt00018") == 14  # ceil(97 / 7)
    for n in range(30):
        await h.kiwoom.executor.submit(intent(h, 100 + n, "005930", Side.BUY, 1, 60_000))
    listed = await h.kiwoom.executor.orders_since(h.account, h.time.now() - timedelta(hours=1))
    assert len(listed) == 30
    assert len({r.order_id for r in listed}) == 30
    assert h.spy.api_ids().count("kt00007") == 5  # ceil(30 / 7)


async def test_history_spans_days(h: Harness) -> None:
    first = await h.kiwoom.executor.submit(intent(h, 7, "005930", Side.BUY, 1))
    await h.time.sleep(24 * 3600)
    second = await h.kiwoom.executor.submit(intent(h, 8, "005930", Side.BUY, 1))
    listed = await h.kiwoom.executor.orders_since(h.account, h.time.now() - timedelta(days=2))
    assert [r.order_id for r in listed] == [first.order_id, second.order_id]
    start = h.time.now().date() - timedelta(days=1)
    moves = [
        m async for m in h.kiwoom.accounts.transactions(h.account, start, start + timedelta(days=1))
    ]
    assert len(moves) == 2
