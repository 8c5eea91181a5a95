"""CLI functions and the operator API's workflow control."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from orchestrator.domain.timeutil import KST
from orchestrator.workflows import commands
from orchestrator.workflows.control import WorkflowOperations, job_specs, next_fire
from orchestrator.workflows.killswitch import KillSwitch
from tests.workflows.fakes import OPEN, Env, FakeCalendar


def test_list_shows_modes_steps_and_next_fires(env: Env) -> None:
    """`workflows list` names each workflow's mode, steps and next fire on the KRX calendar."""
    text = commands.list_workflows(env.catalog, now=OPEN, calendar=FakeCalendar())

    assert "monthly-dca-005930  [approval]  buy, notify" in text
    assert "next 2026-04-01 09:30 KST" in text  # April's first trading day
    assert "daily-reconcile: cron '10 16 * * mon-fri'; next 2026-03-03 16:10 KST" in text


def test_next_fire_skips_closed_days() -> None:
    """A trading-days-only schedule skips the holiday; the Nth-trading-day filter holds."""
    from orchestrator.workflows.loader import load_catalog
    from tests.workflows.fakes import SHIPPED

    schedules = load_catalog(SHIPPED).schedules
    after = datetime(2026, 2, 27, 17, tzinfo=KST)  # Friday evening; Monday 03-02 is closed

    daily = next_fire(schedules["daily-reconcile"], after, FakeCalendar())
    quarterly = next_fire(schedules["quarterly-rebalance-60-40"], after, FakeCalendar())

    assert daily == datetime(2026, 3, 3, 16, 10, tzinfo=KST)
    assert quarterly == datetime(2026, 4, 1, 10, 0, tzinfo=KST)


async def test_run_approve_and_reject_commands_print_the_plan(env: Env) -> None:
    """run prints the plan awaiting approval; approve prints what was sent; reject is final."""
    runner = env.runner()

    planned = await commands.run(runner, "monthly-dca-005930")
    run_id = planned.split()[1]
    approved = await commands.approve(runner, run_id, by="alice")
    other = (await runner.run("monthly-dca-005930", scheduled_for=OPEN)).id
    rejected = await commands.reject(runner, other, reason="no")

    assert "awaiting_approval" in planned
    assert "[planned] buy 4 005930 @ ₩71,100" in planned
    assert f"orchestrator workflows approve {run_id}" in planned
    assert "succeeded" in approved
    assert "[sent] buy 4 005930" in approved
    assert "rejected" in rejected


async def test_dry_run_command(env: Env) -> None:
    """`workflows run NAME --dry-run` prints the plan and marks it a dry run."""
    text = await commands.run(env.runner(), "quarterly-rebalance-60-40", dry_run=True)

    assert "(dry run)" in text
    assert "[planned] sell 42 069500" in text


async def test_killswitch_command(env: Env) -> None:
    """The CLI shows and sets the kill switch."""
    switch = KillSwitch(env.store, env.clock)

    assert await commands.killswitch(switch) == "kill switch off (never set)"
    assert "ON: no orders" in await commands.killswitch(switch, True, reason="drill", by="ops")


async def test_operations_for_the_api(env: Env) -> None:
    """WorkflowControl lists workflows and runs; unknown → KeyError, expired → ValueError."""
    runner = env.runner()
    ops = WorkflowOperations(runner, env.store, calendar=FakeCalendar())
    run = await runner.run("monthly-dca-005930")

    workflows = {w["name"]: w for w in ops.workflows()}
    runs = await ops.runs("monthly-dca-005930", 10)

    assert workflows["monthly-dca-005930"]["mode"] == "approval"
    assert runs[0]["status"] == "awaiting_approval"
    assert runs[0]["figures"]["planned_buy_notional"] == "284400"  # type: ignore[index]
    with pytest.raises(KeyError):
        await ops.approve("nope", "alice")
    env.advance(timedelta(hours=5))
    with pytest.raises(ValueError, match="nothing was sent"):
        await ops.approve(run.id, "alice")
    assert (await ops.run(run.id))["status"] == "expired"


def test_job_specs_for_the_scheduler(env: Env) -> None:
    """Each enabled schedule becomes a scheduler job whose action names the schedule."""
    specs = {s["id"]: s for s in job_specs(env.runner())}

    assert specs["workflow.monthly-dca-005930"] == {
        "id": "workflow.monthly-dca-005930",
        "action": "workflow:monthly-dca-005930",
        "cron": "30 9 * * mon-fri",
        "trading_days_only": True,
        "misfire_grace_seconds": 1800,
        "coalesce": True,
    }
