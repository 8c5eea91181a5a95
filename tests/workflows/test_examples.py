"""Plans of the shipped example workflows against in-test fakes of every port."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from orchestrator.domain.model import OrderType, Side
from orchestrator.domain.timeutil import KST
from orchestrator.ports.workflows import RunStatus
from orchestrator.workflows.plan import load_decisions, load_plan
from tests.workflows.env import OPEN, Env

D = Decimal


async def test_monthly_dca_plans_whole_shares_within_the_amount_at_a_valid_tick(env: Env) -> None:
    """DCA ₩300,000 of 005930 at 71,000 +20 bps: 4 shares at 71,100; a dry run sends nothing."""
    run = await env.runner().run("monthly-dca-005930", dry_run=True)

    plan = load_plan(run.plan)
    assert run.status is RunStatus.PLANNED
    [order] = plan.orders
    assert (order.side, order.symbol, order.quantity) == (Side.BUY, "005930", 4)
    assert (order.order_type, order.limit_price) == (OrderType.LIMIT, D(71_100))
    assert order.notional <= D(300_000)
    assert order.key == "wf:monthly-dca-005930:manual-20260303T010000Z:buy:005930"
    assert env.orders.sends == []
    assert env.notifier.sent == []


async def test_monthly_dca_waits_for_approval_then_sends_once(env: Env) -> None:
    """A scheduled DCA fire becomes a plan awaiting approval; approving sends the order once."""
    runner = env.runner()

    run = await runner.fire("monthly-dca-005930", OPEN)

    assert run is not None
    assert run.status is RunStatus.AWAITING_APPROVAL
    assert run.expires_at == OPEN + timedelta(hours=4)
    assert env.orders.sends == []
    assert "awaits approval" in env.notifier.sent[-1].text

    env.advance(timedelta(minutes=10))
    done = await runner.approve(run.id, by="alice")

    assert done.status is RunStatus.SUCCEEDED
    assert done.decided_by == "alice"
    assert env.orders.sent_keys() == ["wf:monthly-dca-005930:20260303T010000Z:buy:005930"]
    assert env.orders.sends[0].origin == f"workflow:monthly-dca-005930:{run.id}"
    assert "Monthly DCA 2026-03-03: placed buy 4 005930" in env.notifier.sent[-1].text


async def test_monthly_dca_fires_only_on_the_first_trading_day(env: Env) -> None:
    """trading_day_of_month=1: the 2nd trading day and a holiday are dropped without a run."""
    runner = env.runner()
    second = datetime(2026, 3, 4, 9, 30, tzinfo=KST)
    holiday = datetime(2026, 3, 2, 9, 30, tzinfo=KST)

    assert await runner.fire("monthly-dca-005930", second) is None
    assert await runner.fire("monthly-dca-005930", holiday) is None
    assert env.store.rows == {}


async def test_quarterly_rebalance_sells_before_buying_within_orderable_cash(env: Env) -> None:
    """70/20 → 60/40: sell 42 × 069500 at KIS, then buy 23 × 114260 within orderable cash."""
    runner = env.runner()

    run = await runner.fire("quarterly-rebalance-60-40", datetime(2026, 4, 1, 10, tzinfo=KST))

    assert run is not None
    assert run.status is RunStatus.AWAITING_APPROVAL
    assert env.reconciler.runs == 1
    plan = load_plan(run.plan)
    assert [(o.side, o.symbol, o.quantity, o.limit_price) for o in plan.orders] == [
        (Side.SELL, "069500", 42, D(34_965)),
        (Side.BUY, "114260", 23, D(60_060)),
    ]
    buy = plan.orders[1]
    assert buy.cost <= D(1_500_000) - D(100_000)
    outcomes = [d.outcome for d in load_decisions(run.decisions)]
    assert outcomes[:3] == ["ran", "trade", "trade"]
    assert "short_of_cash" in outcomes

    done = await runner.approve(run.id, by="alice")

    assert done.status is RunStatus.SUCCEEDED
    assert [r.side for r in env.orders.sends] == [Side.SELL, Side.BUY]


async def test_quarterly_rebalance_stops_on_reconciliation_breaks(env: Env) -> None:
    """Breaks found by the reconcile step halt the run before any order is planned."""
    env.reconciler.breaks = 2

    run = await env.runner().fire("quarterly-rebalance-60-40", datetime(2026, 4, 1, 10, tzinfo=KST))

    assert run is not None
    assert run.status is RunStatus.SKIPPED
    assert load_plan(run.plan).orders == ()
    assert [d.outcome for d in load_decisions(run.decisions)] == ["ran", "skipped", "skipped"]
    assert env.orders.sends == []


async def test_cash_buffer_alerts_and_proposes_a_transfer_when_short(env: Env) -> None:
    """KIS orderable ₩500,000 < ₩1,000,000: an alert, and a ₩1,500,000 Samsung→KIS proposal."""
    env.portfolio.kis_orderable = D(500_000)

    run = await env.runner().fire("kis-cash-buffer", OPEN)

    assert run is not None
    assert run.status is RunStatus.SUCCEEDED
    [proposal] = env.transfers.proposals.values()
    assert proposal.amount == D(1_500_000)
    assert (
        proposal.idempotency_key
        == "wf:kis-cash-buffer:20260303T010000Z:ensure_cash_buffer:transfer"
    )
    assert "below the floor ₩1,000,000" in env.notifier.sent[0].text
    assert env.orders.sends == []


async def test_cash_buffer_is_quiet_when_above_the_floor(env: Env) -> None:
    """Orderable cash above the floor: no alert, no proposal."""
    run = await env.runner().fire("kis-cash-buffer", OPEN)

    assert run is not None
    assert run.status is RunStatus.SUCCEEDED
    assert env.transfers.proposals == {}
    assert env.notifier.sent == []


async def test_daily_reconcile_reports_portfolio_figures(env: Env) -> None:
    """Auto mode: reconcile runs, then a message with the consolidated figures is sent."""
    run = await env.runner().fire("daily-reconcile", datetime(2026, 3, 3, 16, 10, tzinfo=KST))

    assert run is not None
    assert run.status is RunStatus.SUCCEEDED
    assert env.reconciler.runs == 1
    # positions 10.5M + 3M, KIS cash 1.6M, Samsung 5M
    assert "Portfolio ₩20,100,000 (KIS orderable ₩1,500,000, Samsung cash ₩5,000,000)" in (
        env.notifier.sent[0].text
    )
