"""Orders against the KIS sandbox: acceptance, refusals, resend rules, lost replies, cancels."""

from __future__ import annotations

from datetime import timedelta

import pytest
from structlog.testing import capture_logs

from orchestrator.domain.errors import OrderOutcomeUnknown, OrderRejected
from orchestrator.domain.model import OrderState, OrderType, Side
from tests.adapters.kis.conftest import ORDER_CASH, SESSION_TIME, Harness, HarnessFactory
from tests.adapters.kis.support import intent


async def test_market_buy_shows_in_positions(paper: Harness) -> None:
    """A paper market buy of 1 × 005930 is accepted and then appears in positions()."""
    before = await paper.kis.accounts.positions(paper.account, fresh=True)

    with capture_logs() as logs:
        report = await paper.kis.executor.submit(intent(paper.account, "005930"))
    after = await paper.kis.accounts.positions(paper.account, fresh=True)

    assert "005930" not in {p.symbol for p in before}
    assert report.state is OrderState.ACCEPTED
    assert report.order_id == "0000012874"
    assert report.branch == "00950"
    assert [p.quantity for p in after if p.symbol == "005930"] == [1]
    assert paper.spy.sent(ORDER_CASH)[0].headers["tr_id"] == "VTTC0012U"
    assert any(e["event"] == "kis.order_accepted" for e in logs)


async def test_real_host_uses_new_real_tr_ids(real: Harness) -> None:
    """Real buys and sells go out with the new TTTC0012U / TTTC0011U TR ids."""
    await real.kis.executor.submit(intent(real.account, "005930"))
    await real.kis.executor.submit(intent(real.account, "005930", side=Side.SELL))

    assert [r.headers["tr_id"] for r in real.spy.sent(ORDER_CASH)] == ["TTTC0012U", "TTTC0011U"]


@pytest.mark.parametrize(
    ("env", "order", "session", "code"),
    [
        ("real", {"symbol": "005930"}, "closed", "APBK0918"),
        ("paper", {"symbol": "005930"}, "closed", "40580000"),
        ("real", {"symbol": "005930", "qty": 100_000}, None, "APBK0952"),
        ("real", {"symbol": "999999"}, None, "APBK0656"),
        ("real", {"symbol": "005930", "price": 70_050}, None, "APBK0506"),
        ("real", {"symbol": "035420", "side": Side.SELL}, None, "APBK0400"),
    ],
)
async def test_business_refusals_raise_order_rejected_with_code(
    make_harness: HarnessFactory,
    env: str,
    order: dict[str, object],
    session: str | None,
    code: str,
) -> None:
    """Hours, funds, symbol, tick and holdings refusals are OrderRejected(code), sent once."""
    harness = await make_harness(env)
    if session is not None:
        await harness.control("/_sandbox/clock", {"session": session})

    with capture_logs() as logs, pytest.raises(OrderRejected) as raised:
        await harness.kis.executor.submit(intent(harness.account, **order))  # type: ignore[arg-type]

    assert raised.value.code == code
    assert harness.spy.count(ORDER_CASH) == 1
    assert harness.orders() == []
    assert any(e["event"] == "kis.order_rejected" and e["code"] == code for e in logs)


async def test_rate_limited_order_is_resent_and_booked_once(real: Harness) -> None:
    """EGW00201 (HTTP 500, refused before acceptance) is resent after backoff: one order booked."""
    await real.faults(rate_limit={"count": 1, "path": ORDER_CASH})

    report = await real.kis.executor.submit(intent(real.account))

    assert real.spy.count(ORDER_CASH) == 2
    assert [o.odno for o in real.orders()] == [report.order_id]
    assert 1.0 in real.time.sleeps


@pytest.mark.parametrize("status", [500, 502])
async def test_server_error_on_submit_is_outcome_unknown_after_one_send(
    real: Harness, status: int
) -> None:
    """A 5xx after an order left (KIS body or a proxy page) is OrderOutcomeUnknown; never resent."""
    await real.faults(error_5xx={"count": 1, "status": status, "path": ORDER_CASH})

    with pytest.raises(OrderOutcomeUnknown):
        await real.kis.executor.submit(intent(real.account))

    assert real.spy.count(ORDER_CASH) == 1


async def test_lost_reply_is_outcome_unknown_and_found_in_orders_since(real: Harness) -> None:
    """A reply lost after booking raises OrderOutcomeUnknown; orders_since finds the one order."""
    await real.faults(lost_reply={"count": 1})
    since = real.time.now() - timedelta(seconds=1)

    with pytest.raises(OrderOutcomeUnknown):
        await real.kis.executor.submit(intent(real.account, "005930", qty=2))
    listed = await real.kis.executor.orders_since(real.account, since)

    assert real.spy.count(ORDER_CASH) == 1
    assert len(listed) == 1
    assert (listed[0].symbol, listed[0].quantity, listed[0].side) == ("005930", 2, Side.BUY)
    assert listed[0].order_id == real.orders()[0].odno
    assert listed[0].branch == "91252"


async def test_orders_since_reports_fills_and_average_price(real: Harness) -> None:
    """orders_since maps filled quantity, average price, type and branch from daily-ccld."""
    market = await real.kis.executor.submit(intent(real.account, "005930", qty=3))
    limit = await real.kis.executor.submit(intent(real.account, "005930", price=60_000))

    listed = {
        r.order_id: r for r in await real.kis.executor.orders_since(real.account, SESSION_TIME)
    }

    filled, resting = listed[market.order_id], listed[limit.order_id]
    assert filled.state is OrderState.FILLED
    assert filled.filled_quantity == 3
    assert filled.avg_fill_price is not None
    assert filled.avg_fill_price > 0
    assert filled.order_type is OrderType.MARKET
    assert resting.state is OrderState.ACCEPTED
    assert resting.filled_quantity == 0
    assert resting.limit_price == 60_000
    assert resting.order_type is OrderType.LIMIT
    assert {filled.branch, resting.branch} == {"91252"}
    assert all(r.placed_at >= SESSION_TIME for r in listed.values())


async def test_orders_since_follows_every_page_on_paper(paper: Harness) -> None:
    """17 paper orders span two daily-ccld pages (15 per page); all are listed."""
    placed = [
        (await paper.kis.executor.submit(intent(paper.account, "005930", price=60_000))).order_id
        for _ in range(17)
    ]

    listed = await paper.kis.executor.orders_since(paper.account, SESSION_TIME)

    assert [r.order_id for r in listed] == placed
    daily = paper.spy.sent("/uapi/domestic-stock/v1/trading/inquire-daily-ccld")
    assert [r.headers["tr_cont"] for r in daily] == ["", "N"]
    assert daily[0].headers["tr_id"] == "VTTC0081R"


async def test_cancel_marks_the_order_cancelled(real: Harness) -> None:
    """cancel() cancels a resting order via order-rvsecncl; orders_since shows it cancelled."""
    resting = await real.kis.executor.submit(intent(real.account, "005930", price=60_000))

    cancelled = await real.kis.executor.cancel(resting)
    listed = await real.kis.executor.orders_since(real.account, SESSION_TIME)

    assert cancelled.cancelled
    assert cancelled.state is OrderState.CANCELLED
    assert [(r.order_id, r.state, r.cancelled) for r in listed] == [
        (resting.order_id, OrderState.CANCELLED, True)
    ]
    rvsecncl = real.spy.sent("/uapi/domestic-stock/v1/trading/order-rvsecncl")
    assert [r.headers["tr_id"] for r in rvsecncl] == ["TTTC0013U"]


async def test_cancel_without_remainder_is_rejected(real: Harness) -> None:
    """Cancelling a filled order is refused by KIS (40330000) as OrderRejected."""
    filled = await real.kis.executor.submit(intent(real.account, "005930"))

    with pytest.raises(OrderRejected) as raised:
        await real.kis.executor.cancel(filled)

    assert raised.value.code == "40330000"


async def test_cancel_looks_up_a_missing_branch(real: Harness) -> None:
    """A report without branch (e.g. rebuilt from our journal) gets it from the daily list."""
    from dataclasses import replace

    resting = await real.kis.executor.submit(intent(real.account, "005930", price=60_000))

    cancelled = await real.kis.executor.cancel(replace(resting, branch=""))

    assert cancelled.branch == "91252"
    assert cancelled.state is OrderState.CANCELLED


async def test_hashkey_is_sent_when_configured(make_harness: HarnessFactory) -> None:
    """With use_hashkey the order body is hashed first and the HASH travels as `hashkey`."""
    harness = await make_harness("real", use_hashkey=True)

    await harness.kis.executor.submit(intent(harness.account))

    assert harness.spy.count("/uapi/hashkey") == 1
    sent = harness.spy.sent(ORDER_CASH)[0]
    assert len(sent.headers["hashkey"]) == 64
