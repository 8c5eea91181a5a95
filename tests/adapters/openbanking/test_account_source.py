"""OpenBankingAccountSource against the in-process sandbox relay."""

from __future__ import annotations

import itertools
import math
from datetime import date
from decimal import Decimal

import pytest

from adapters.openbanking.endpoints import TRANSACTIONS
from adapters.openbanking.mapping import account_id_of
from orchestrator.domain.model import AccountKind, Institution

from .conftest import (
    CMA,
    CMA25,
    CMA26,
    CMA_BALANCE,
    EMPTY,
    HISTORY_FIRST,
    HISTORY_LAST,
    ROWS,
    USER,
    Harness,
    account_ref,
)

FROM, TO = date(2026, 1, 1), date(2026, 3, 10)


async def test_accounts_are_the_users_samsung_registrations(granted: Harness) -> None:
    """account/list minus cancelled and other institutions; masked numbers, stable ids."""
    accounts = await granted.ob.source.accounts(USER)

    refs = {a.external_ref: a for a in accounts}
    assert set(refs) == {CMA, CMA25, CMA26, EMPTY, "120260101000000000240008"}
    cma = refs[CMA]
    assert cma.institution is Institution.SAMSUNG_SECURITIES
    assert cma.kind is AccountKind.CMA
    assert cma.account_id == account_id_of(CMA)
    assert cma.masked_number.endswith("***")
    assert "71001234567801" not in repr(accounts)
    request = granted.transport.to("/v2.0/account/list")[0]
    assert request.url.params["user_seq_no"] == "1100000001"


async def test_cash_is_balance_and_available_amount(granted: Harness) -> None:
    """deposit = balance_amt, withdrawable = available_amt, orderable unknown (spec §2.3)."""
    await granted.sandbox(
        "POST", "/_sandbox/balances", json={"fintech_use_num": CMA, "hold_amt": 234_870}
    )

    cash = await granted.ob.source.cash(account_ref(CMA), fresh=True)

    assert cash.deposit == Decimal(CMA_BALANCE)
    assert cash.withdrawable == Decimal(CMA_BALANCE - 234_870)
    assert cash.orderable is None
    assert cash.as_of == granted.time.now()
    assert not cash.stale


async def test_display_reads_are_cached_and_fresh_bypasses(granted: Harness) -> None:
    """A second display read is served from cache; fresh=True asks the relay again."""
    source = granted.ob.source
    account = account_ref(CMA)
    first = await source.cash(account)
    await granted.sandbox(
        "POST", "/_sandbox/balances", json={"fintech_use_num": CMA, "balance_amt": 1}
    )

    cached = await source.cash(account)
    fresh = await source.cash(account, fresh=True)

    assert cached.deposit == first.deposit == Decimal(CMA_BALANCE)
    assert fresh.deposit == Decimal(1)
    assert len(granted.transport.to("/v2.0/account/balance/fin_num")) == 2


async def test_display_read_falls_back_to_stale_when_the_relay_is_down(granted: Harness) -> None:
    """With the relay failing, a display read returns the last balance marked stale."""
    source = granted.ob.source
    account = account_ref(CMA)
    await source.cash(account)
    source.invalidate(CMA, USER)
    await granted.fault(kind="http_error", status=503)

    stale = await source.cash(account)

    assert stale.stale
    assert stale.deposit == Decimal(CMA_BALANCE)


async def test_positions_are_empty(granted: Harness) -> None:
    """Open Banking reports no holdings; the source says so with an empty sequence."""
    assert await granted.ob.source.positions(account_ref(CMA)) == ()


@pytest.mark.parametrize("fintech", [EMPTY, CMA25, CMA26, CMA], ids=["0", "25", "26", "60"])
async def test_transactions_stream_every_page_oldest_first(granted: Harness, fintech: str) -> None:
    """0, 25, 26 and 60 rows: all rows once, in time order, one request per 25-row page."""
    rows = [t async for t in granted.ob.source.transactions(account_ref(fintech), FROM, TO)]

    assert len(rows) == ROWS[fintech]
    assert [r.occurred_at for r in rows] == sorted(r.occurred_at for r in rows)
    assert len({r.tx_id for r in rows}) == len(rows)
    if rows:
        assert rows[0].occurred_at.date() >= HISTORY_FIRST
        assert rows[-1].occurred_at.date() <= HISTORY_LAST
    pages = granted.transport.to(TRANSACTIONS.path)
    assert len(pages) == max(1, math.ceil(ROWS[fintech] / 25))
    assert "befor_inquiry_trace_info" not in pages[0].url.params
    assert all("befor_inquiry_trace_info" in p.url.params for p in pages[1:])
    ids = [p.url.params["bank_tran_id"] for p in pages]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("T990000001U") and len(i) == 20 for i in ids)


async def test_the_last_page_balance_chain_is_consistent(granted: Harness) -> None:
    """The streamed rows replay to the account's balance: no row lost or doubled."""
    rows = [t async for t in granted.ob.source.transactions(account_ref(CMA), FROM, TO)]

    assert rows[-1].balance_after == Decimal(CMA_BALANCE)
    for before, after in itertools.pairwise(rows):
        delta = after.amount if after.direction.value == "in" else -after.amount
        assert before.balance_after is not None
        assert after.balance_after == before.balance_after + delta


async def test_pages_are_fetched_only_as_rows_are_consumed(granted: Harness) -> None:
    """Streaming: the first row arrives after one request; the rest are not fetched yet."""
    stream = granted.ob.source.transactions(account_ref(CMA), FROM, TO)

    await anext(stream)

    assert len(granted.transport.to(TRANSACTIONS.path)) == 1
    await stream.aclose()


async def test_a_resync_yields_the_same_ids(granted: Harness) -> None:
    """Derived transaction ids are stable across syncs of the same range."""
    source = granted.ob.source

    first = [t.tx_id async for t in source.transactions(account_ref(CMA26), FROM, TO)]
    second = [t.tx_id async for t in source.transactions(account_ref(CMA26), FROM, TO)]

    assert first == second


async def test_an_empty_range_sends_nothing(granted: Harness) -> None:
    """start after end yields nothing and asks nothing."""
    rows = [t async for t in granted.ob.source.transactions(account_ref(CMA), TO, FROM)]

    assert rows == []
    assert granted.transport.to(TRANSACTIONS.path) == []


async def test_reads_share_the_users_budget(granted: Harness) -> None:
    """The 31st read in a minute waits for the per-user budget (30/min) instead of going out."""
    source = granted.ob.source
    for _ in range(30):
        await source.cash(account_ref(CMA), fresh=True)
    assert granted.time.sleeps == []

    await source.cash(account_ref(CMA), fresh=True)

    assert granted.time.sleeps
    assert sum(granted.time.sleeps) > 50
