"""The KIS account source and market data against the sandbox: cash, paging, caching."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from adapters.sandbox.kis.clock import KST
from orchestrator.domain.errors import AccountUnknown, SourceUnavailable
from orchestrator.domain.model import Direction, Institution, Side
from tests.adapters.kis.conftest import BALANCE, Harness, HarnessFactory, holdings_seed
from tests.adapters.kis.support import intent


async def test_accounts_lists_the_configured_account(real: Harness) -> None:
    """accounts() names the configured KIS account (masked) for its owner only."""
    accounts = await real.kis.accounts.accounts("demo")

    assert [(a.institution, a.external_ref, a.masked_number) for a in accounts] == [
        (Institution.KIS, "50012345-01", "******45-01")
    ]
    assert await real.kis.accounts.accounts("someone-else") == []


async def test_cash_figures_differ_after_a_buy_until_settlement(real: Harness) -> None:
    """After a buy: deposit unchanged until T+2, withdrawable is D+2, orderable less open buys."""
    before = await real.kis.accounts.cash(real.account, fresh=True)
    await real.kis.executor.submit(intent(real.account, "005930"))
    await real.kis.executor.submit(intent(real.account, "005930", price=60_000))

    after = await real.kis.accounts.cash(real.account, fresh=True)
    real.time.set(datetime(2026, 3, 16, 10, 0, tzinfo=KST))  # Monday: T+2
    settled = await real.kis.accounts.cash(real.account, fresh=True)

    assert before.deposit == before.withdrawable == before.orderable == Decimal(10_000_000)
    assert after.deposit == Decimal(10_000_000)
    assert after.withdrawable is not None
    assert after.orderable is not None
    assert after.deposit > after.withdrawable > after.orderable
    # The resting limit buy holds 60,000 plus commission back from orderable cash only.
    assert after.withdrawable - after.orderable == Decimal(60_009)
    assert settled.deposit == after.withdrawable
    assert all(isinstance(v, Decimal) for v in (after.deposit, after.orderable))


async def test_positions_follow_every_page_on_real(
    make_harness: HarnessFactory, seed_data: Any
) -> None:
    """120 extra holdings on real (50 per page) come back complete from three pages."""
    harness = await make_harness("real", seed=holdings_seed(seed_data, "real", 120))

    positions = await harness.kis.accounts.positions(harness.account, fresh=True)

    assert len(positions) == 123
    sent = harness.spy.sent(BALANCE)
    assert [r.headers["tr_cont"] for r in sent] == ["", "N", "N"]
    assert {r.headers["tr_id"] for r in sent} == {"TTTC8434R"}
    assert sent[1].url.params["CTX_AREA_NK100"].strip() != ""


async def test_positions_follow_every_page_on_paper(
    make_harness: HarnessFactory, seed_data: Any
) -> None:
    """45 extra holdings on paper (20 per page, 1 request/s) come back from three pages."""
    harness = await make_harness("paper", seed=holdings_seed(seed_data, "paper", 45))

    positions = await harness.kis.accounts.positions(harness.account, fresh=True)

    assert len(positions) == 47
    sent = harness.spy.sent(BALANCE)
    assert [r.headers["tr_id"] for r in sent] == ["VTTC8434R"] * 3
    assert harness.time.sleeps  # the 1/s budget was waited for, not exceeded


async def test_cash_and_positions_read_every_page_in_one_pass(
    make_harness: HarnessFactory, seed_data: Any
) -> None:
    """cash_and_positions() walks the balance pages once: the cash is the first page's summary,
    the holdings every page's rows; display reads are then served both without a call."""
    harness = await make_harness("real", seed=holdings_seed(seed_data, "real", 120))
    separate_cash = await harness.kis.accounts.cash(harness.account, fresh=True)
    separate = await harness.kis.accounts.positions(harness.account, fresh=True)
    calls = harness.spy.count(BALANCE)

    cash, positions = await harness.kis.accounts.cash_and_positions(harness.account)
    combined = harness.spy.count(BALANCE) - calls
    shown_cash = await harness.kis.accounts.cash(harness.account)
    shown = await harness.kis.accounts.positions(harness.account)

    assert calls == 4  # one page for cash, three for holdings
    assert combined == 3
    figures = (cash.deposit, cash.orderable, cash.withdrawable)
    assert figures == (separate_cash.deposit, separate_cash.orderable, separate_cash.withdrawable)
    assert [(p.symbol, p.quantity) for p in positions] == [(p.symbol, p.quantity) for p in separate]
    assert shown_cash == cash
    assert list(shown) == list(positions)
    assert harness.spy.count(BALANCE) == calls + 3  # the display reads asked nothing


async def test_paging_restarts_on_sydb0050(make_harness: HarnessFactory, seed_data: Any) -> None:
    """Holdings changing between pages (SYDB0050) restart paging from page one; nothing lost."""
    harness = await make_harness("real", seed=holdings_seed(seed_data, "real", 60))
    bumped: list[str] = []

    async def change_holdings(request: httpx.Request, response: httpx.Response) -> None:
        if request.url.path == BALANCE and response.headers.get("tr_cont") == "F" and not bumped:
            bumped.append("once")
            harness.broker.accounts["50012345-01"].holdings_version += 1

    harness.spy.after = change_holdings

    with capture_logs() as logs:
        positions = await harness.kis.accounts.positions(harness.account, fresh=True)

    assert len(positions) == 63
    assert [r.headers["tr_cont"] for r in harness.spy.sent(BALANCE)] == ["", "N", "", "N"]
    assert [e["restart"] for e in logs if e["event"] == "kis.paging_restarted"] == [1]


async def test_paging_gives_up_when_data_keeps_changing(
    make_harness: HarnessFactory, seed_data: Any
) -> None:
    """SYDB0050 on every attempt ends in SourceUnavailable(SYDB0050), never a partial list."""
    harness = await make_harness("real", seed=holdings_seed(seed_data, "real", 60))

    async def always_change(request: httpx.Request, response: httpx.Response) -> None:
        if request.url.path == BALANCE and response.headers.get("tr_cont") == "F":
            harness.broker.accounts["50012345-01"].holdings_version += 1

    harness.spy.after = always_change

    with pytest.raises(SourceUnavailable) as raised:
        await harness.kis.accounts.positions(harness.account, fresh=True)

    assert raised.value.code == "SYDB0050"
    assert harness.spy.count(BALANCE) == 2 * (harness.settings.max_paging_restarts + 1)


async def test_display_reads_are_cached_and_fall_back_to_stale(real: Harness) -> None:
    """Display reads come from the cache; when KIS fails they are served stale; fresh raises."""
    first = await real.kis.accounts.cash(real.account)
    await real.kis.accounts.cash(real.account)
    calls = real.spy.count(BALANCE)
    real.time.advance(120)  # past the cache TTL
    await real.faults(error_5xx={"rate": 1.0})

    stale = await real.kis.accounts.cash(real.account)
    with pytest.raises(SourceUnavailable):
        await real.kis.accounts.cash(real.account, fresh=True)

    assert calls == 1
    assert stale.stale
    assert not first.stale
    assert (stale.deposit, stale.as_of) == (first.deposit, first.as_of)


async def test_an_order_invalidates_cached_cash(real: Harness) -> None:
    """After an order the next display read asks KIS again instead of the cache."""
    before = await real.kis.accounts.cash(real.account)

    await real.kis.executor.submit(intent(real.account, "005930"))
    after = await real.kis.accounts.cash(real.account)

    assert after.withdrawable is not None
    assert before.withdrawable is not None
    assert after.withdrawable < before.withdrawable
    assert real.spy.count(BALANCE) == 2


async def test_transactions_are_derived_from_fills(real: Harness) -> None:
    """transactions() yields one gross cash move per filled order (buy out, sell in)."""
    buy = await real.kis.executor.submit(intent(real.account, "005930", qty=2))
    await real.kis.executor.submit(intent(real.account, "005930", price=60_000))  # unfilled
    sell = await real.kis.executor.submit(intent(real.account, "069500", side=Side.SELL))

    moves = [
        m
        async for m in real.kis.accounts.transactions(
            real.account, date(2026, 3, 12), date(2026, 3, 12)
        )
    ]

    assert [(m.tx_id, m.direction) for m in moves] == [
        (f"fill:20260312:{buy.order_id}", Direction.OUT),
        (f"fill:20260312:{sell.order_id}", Direction.IN),
    ]
    assert all(m.amount > 0 for m in moves)


async def test_foreign_account_is_unknown(real: Harness) -> None:
    """An account of another institution (or a malformed number) is AccountUnknown."""
    from dataclasses import replace

    with pytest.raises(AccountUnknown):
        await real.kis.accounts.cash(
            replace(real.account, institution=Institution.SAMSUNG_SECURITIES)
        )
    with pytest.raises(AccountUnknown):
        await real.kis.accounts.positions(replace(real.account, external_ref="123"))


async def test_quote_reads_the_current_price(paper: Harness) -> None:
    """quote() returns stck_prpr as Decimal through FHKST01010100 on either host."""
    quote = await paper.kis.market.quote("005930")

    assert quote.symbol == "005930"
    assert isinstance(quote.price, Decimal)
    assert quote.price > 0
    price = paper.spy.sent("/uapi/domestic-stock/v1/quotations/inquire-price")[0]
    assert price.headers["tr_id"] == "FHKST01010100"
    assert quote.as_of == paper.time.now()


async def test_unknown_symbol_quote_is_refused(real: Harness) -> None:
    """A quote for a symbol KIS does not list is a refusal, not an outage."""
    from orchestrator.domain.errors import RequestRefused

    with pytest.raises(RequestRefused):
        await real.kis.market.quote("999999")

    assert timedelta(0) <= real.time.now() - real.time.now()


async def test_exactly_one_full_page_is_not_a_loop(
    make_harness: HarnessFactory, seed_data: Any
) -> None:
    """Exactly 50 holdings on real is one last page (python-kis looped forever there)."""
    harness = await make_harness("real", seed=holdings_seed(seed_data, "real", 47))

    positions = await harness.kis.accounts.positions(harness.account, fresh=True)

    assert len(positions) == 50
    assert harness.spy.count(BALANCE) == 1


async def test_an_account_without_holdings_has_no_positions(
    make_harness: HarnessFactory, seed_data: Any
) -> None:
    """An empty output1 is an empty list, not an error."""
    seed_data["envs"]["paper"]["accounts"][0]["holdings"] = []
    harness = await make_harness("paper", seed=seed_data)

    assert await harness.kis.accounts.positions(harness.account, fresh=True) == []
