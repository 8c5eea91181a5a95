"""Every guardrail, unit and through the runner, and the kill switch."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.fake.workflows import FakeOrderPlacer
from orchestrator.domain.errors import GuardrailViolation
from orchestrator.domain.model import OrderType, Side
from orchestrator.domain.timeutil import KST
from orchestrator.ports.workflows import OrderOutcome, RunStatus, WorkflowOrderRequest
from orchestrator.workflows import guardrails as g
from orchestrator.workflows.killswitch import KillSwitch
from orchestrator.workflows.plan import load_outcome, load_plan
from orchestrator.workflows.spec import HouseLimits
from tests.workflows.env import Env
from tests.workflows.support import dca

D = Decimal
LIMITS = g.Limits(
    max_order_notional=D(1_000_000),
    max_daily_notional=D(2_000_000),
    max_orders_per_run=2,
    allowed_symbols=frozenset({"005930"}),
    price_collar_bps=100,
    session_hours=True,
    max_transfer_amount=D(3_000_000),
)
BUY = g.OrderCheck("005930", Side.BUY, 10, OrderType.LIMIT, D(71_000), D(71_000))


def _check(order: g.OrderCheck = BUY, **kw: object) -> str | None:
    args: dict[str, object] = {
        "kill_switch_on": False,
        "orders_before": 0,
        "sent_today": D(0),
        "session_open": True,
    }
    args.update(kw)
    violation = g.check_order(order, LIMITS, **args)  # type: ignore[arg-type]
    return None if violation is None else violation.rule


@pytest.mark.parametrize(
    ("order", "kwargs", "rule"),
    [
        (BUY, {}, None),
        (BUY, {"kill_switch_on": True}, "kill_switch"),
        (g.OrderCheck("000660", Side.BUY, 1, OrderType.MARKET, None, D(1)), {}, "allowed_symbols"),
        (BUY, {"session_open": False}, "session_hours"),
        (BUY, {"session_open": None}, None),
        (BUY, {"orders_before": 2}, "max_orders_per_run"),
        (
            g.OrderCheck("005930", Side.BUY, 1, OrderType.LIMIT, D(72_000), D(71_000)),
            {},
            "price_collar",
        ),
        (g.OrderCheck("005930", Side.SELL, 1, OrderType.LIMIT, D(70_300), D(71_000)), {}, None),
        (
            g.OrderCheck("005930", Side.BUY, 15, OrderType.LIMIT, D(71_000), D(71_000)),
            {},
            "max_order_notional",
        ),
        (
            g.OrderCheck("005930", Side.BUY, 15, OrderType.MARKET, None, D(71_000)),
            {},
            "max_order_notional",
        ),
        (BUY, {"sent_today": D(1_300_000)}, "max_daily_notional"),
    ],
)
def test_check_order_rules(
    order: g.OrderCheck, kwargs: dict[str, object], rule: str | None
) -> None:
    """Each rule refuses exactly what it names (planning skips the session check)."""
    assert _check(order, **kwargs) == rule


def test_transfer_rules() -> None:
    """Transfers stop on the kill switch and above their cap."""
    assert g.check_transfer(D(3_000_000), LIMITS, kill_switch_on=False) is None
    assert (
        g.check_transfer(D(3_000_001), LIMITS, kill_switch_on=False).rule == "max_transfer_amount"
    )  # type: ignore[union-attr]
    assert g.check_transfer(D(1), LIMITS, kill_switch_on=True).rule == "kill_switch"  # type: ignore[union-attr]


def test_house_limits_tighten_every_workflow(env: Env) -> None:
    """House limits cap a workflow's own limits and narrow its allowed symbols."""
    spec = env.catalog.workflow("monthly-dca-005930")

    limits = g.effective_limits(
        spec, HouseLimits(max_order_notional=D(100_000), allowed_symbols=("069500",))
    )

    assert limits.max_order_notional == D(100_000)
    assert limits.max_daily_notional == D(1_000_000)
    assert limits.allowed_symbols == frozenset()


async def test_kill_switch_at_planning_blocks_every_order(env: Env, tmp_path: Path) -> None:
    """With the kill switch on, every order is blocked in the plan and nothing is sent."""
    switch = KillSwitch(env.store, env.clock)
    await switch.set(True, "broker incident", "alice")

    run = await env.runner(dca(tmp_path)).run("dca")

    assert run.status is RunStatus.BLOCKED
    assert all(
        o.blocked and o.blocked.startswith("kill_switch") for o in load_plan(run.plan).orders
    )
    assert env.orders.sends == []


async def test_kill_switch_stops_an_approved_plan(env: Env) -> None:
    """Turned on while a plan awaits approval: approving sends nothing (blocked)."""
    runner = env.runner()
    run = await runner.run("monthly-dca-005930")
    await KillSwitch(env.store, env.clock).set(True, "stop", "bob")

    done = await runner.approve(run.id, by="alice")

    assert done.status is RunStatus.BLOCKED
    assert env.orders.sends == []
    assert "kill_switch" in load_outcome(done.outcome).results[0].detail


async def test_kill_switch_stops_a_run_between_two_orders(env: Env, tmp_path: Path) -> None:
    """Engaged after the first order went out, it stops the second (read before every order)."""
    switch = KillSwitch(env.store, env.clock)

    class EngagingPlacer(FakeOrderPlacer):
        async def place(self, request: WorkflowOrderRequest) -> OrderOutcome:
            outcome = await super().place(request)
            await switch.set(True, "panic", "ops")
            return outcome

    env.orders = EngagingPlacer()

    run = await env.runner(dca(tmp_path)).run("dca")

    assert run.status is RunStatus.BLOCKED
    assert [r.symbol for r in env.orders.sends] == ["005930"]
    assert [r.status for r in load_outcome(run.outcome).results] == ["sent", "blocked"]


async def test_kill_switch_blocks_transfer_proposals(env: Env) -> None:
    """The kill switch also stops funding-transfer proposals (the alert still goes out)."""
    env.portfolio.kis_orderable = D(0)
    await KillSwitch(env.store, env.clock).set(True, "stop", "bob")

    run = await env.runner().run("kis-cash-buffer")

    assert run.status is RunStatus.BLOCKED
    assert env.transfers.proposals == {}
    assert "below the floor" in env.notifier.sent[0].text


async def test_kill_switch_state_is_reported_and_needs_a_reason(env: Env) -> None:
    """The switch reports who set it and why; a change without a reason is refused."""
    switch = KillSwitch(env.store, env.clock)

    with pytest.raises(ValueError, match="reason"):
        await switch.set(True, " ", "alice")
    state = await switch.set(True, "maintenance", "alice")

    assert state["on"] is True
    assert state["updated_by"] == "alice"
    assert await switch.is_on()
    assert (await switch.set(False, "done", "alice"))["on"] is False
    assert len(env.store.audit) == 2


async def test_session_closed_at_send_time_blocks(env: Env) -> None:
    """A plan approved after the close is blocked by the session-hours rule."""
    runner = env.runner()
    env.clock.set(datetime(2026, 3, 3, 12, 0, tzinfo=KST))
    run = await runner.run("monthly-dca-005930")
    env.clock.set(datetime(2026, 3, 3, 15, 45, tzinfo=KST))

    done = await runner.approve(run.id, by="alice")

    assert done.status is RunStatus.BLOCKED
    assert "session_hours" in load_outcome(done.outcome).results[0].detail
    assert env.orders.sends == []


async def test_price_collar_checks_the_quote_at_send_time(env: Env) -> None:
    """If the quote moves beyond the collar while a plan waits, the order is blocked."""
    runner = env.runner()
    run = await runner.run("monthly-dca-005930")
    env.portfolio.prices["005930"] = D(68_000)

    done = await runner.approve(run.id, by="alice")

    assert "price_collar" in load_outcome(done.outcome).results[0].detail
    assert env.orders.sends == []


async def test_per_order_cap_blocks_in_the_plan(env: Env, tmp_path: Path) -> None:
    """An order above max_order_notional is blocked at planning; the other one goes."""
    run = await env.runner(dca(tmp_path, order_cap=300_000)).run("dca")

    blocked = {o.symbol: o.blocked for o in load_plan(run.plan).orders}
    assert blocked["069500"] is not None
    assert blocked["069500"].startswith("max_order_notional")
    assert blocked["005930"] is None
    assert [r.symbol for r in env.orders.sends] == ["005930"]
    assert run.status is RunStatus.BLOCKED


async def test_per_day_cap_counts_earlier_runs_of_the_day(env: Env, tmp_path: Path) -> None:
    """The per-day cap counts earlier runs of the same KST day and resets the next day."""
    runner = env.runner(dca(tmp_path, day_cap=700_000))
    first = await runner.run("dca")
    env.advance(timedelta(hours=1))

    second = await runner.run("dca")

    assert first.status is RunStatus.SUCCEEDED
    assert second.status is RunStatus.BLOCKED
    assert all(
        o.blocked and "max_daily_notional" in o.blocked for o in load_plan(second.plan).orders
    )
    env.clock.set(datetime(2026, 3, 4, 10, tzinfo=KST))
    third = await runner.run("dca")
    assert third.status is RunStatus.SUCCEEDED


async def test_max_orders_per_run(env: Env, tmp_path: Path) -> None:
    """Orders beyond max_orders_per_run are blocked in the plan."""
    run = await env.runner(dca(tmp_path, max_orders=1)).run("dca")

    assert [o.blocked is None for o in load_plan(run.plan).orders] == [True, False]
    assert len(env.orders.sends) == 1


async def test_allowed_symbols_from_house_limits(env: Env, tmp_path: Path) -> None:
    """A symbol the house limits do not allow is never sent."""
    env.house = HouseLimits(allowed_symbols=("005930",))

    run = await env.runner(dca(tmp_path)).run("dca")

    assert [r.symbol for r in env.orders.sends] == ["005930"]
    assert "allowed_symbols" in (load_plan(run.plan).orders[1].blocked or "")


async def test_a_guardrail_refusal_from_the_order_service_is_a_block(
    env: Env, tmp_path: Path
) -> None:
    """GuardrailViolation raised by the placer (its own checks) is recorded as blocked."""
    env.orders.errors["005930"] = GuardrailViolation("broker_limit", "too much")

    run = await env.runner(dca(tmp_path)).run("dca")

    assert [r.status for r in load_outcome(run.outcome).results] == ["blocked", "sent"]
