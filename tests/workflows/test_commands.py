"""CLI functions and the operator API's workflow control."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from adapters.fake.workflows import FakeCalendar
from orchestrator.domain.timeutil import KST
from orchestrator.workflows import commands
from orchestrator.workflows.control import WorkflowOperations, job_specs, next_fire
from orchestrator.workflows.killswitch import KillSwitch
from tests.workflows.env import HOLIDAYS, OPEN, Env


def test_list_shows_modes_steps_and_next_fires(env: Env) -> None:
    """`workflows list` names each workflow's mode, steps and next fire on the KRX calendar."""
    text = commands.list_workflows(env.catalog, now=OPEN, calendar=FakeCalendar(HOLIDAYS))

    assert "monthly-dca-005930  [approval]  buy, notify" in text
    assert "next 2026-04-01 09:30 KST" in text  # April's first trading day
    assert "daily-reconcile: cron '10 16 * * mon-fri'; next 2026-03-03 16:10 KST" in text


def test_next_fire_skips_closed_days() -> None:
    """A trading-days-only schedule skips the holiday; the Nth-trading-day filter holds."""
    from orchestrator.workflows.loader import load_catalog
    from tests.workflows.env import SHIPPED

    schedules = load_catalog(SHIPPED).schedules
    after = datetime(2026, 2, 27, 17, tzinfo=KST)  # Friday evening; Monday 03-02 is closed

    daily = next_fire(schedules["daily-reconcile"], after, FakeCalendar(HOLIDAYS))
    quarterly = next_fire(schedules["quarterly-rebalance-60-40"], after, FakeCalendar(HOLIDAYS))

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

    assert "(dry run: nothing is sent)" in text
    assert "[planned] sell 42 069500" in text


async def test_a_dry_run_says_would_place_never_placed(env: Env) -> None:
    """The notify text of a dry run names the orders it would place; a real run, what it placed."""
    dry = await commands.run(env.runner(), "monthly-dca-005930", dry_run=True)
    real = await commands.run(env.runner(), "monthly-dca-005930")

    assert "would place buy 4 005930 @ ₩71,100" in dry
    assert "placed" not in dry.replace("would place", "")
    assert "placed buy 4 005930 @ ₩71,100" in real


async def test_killswitch_command(env: Env) -> None:
    """The CLI shows and sets the kill switch."""
    switch = KillSwitch(env.store, env.clock)

    assert await commands.killswitch(switch) == "kill switch off (never set)"
    assert "ON: no orders" in await commands.killswitch(switch, True, reason="drill", by="ops")


async def test_operations_for_the_api(env: Env) -> None:
    """WorkflowControl lists workflows and runs; unknown → KeyError, expired → ValueError."""
    runner = env.runner()
    ops = WorkflowOperations(runner, env.store, calendar=FakeCalendar(HOLIDAYS))
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
        "trading_day_of_month": 1,
        "misfire_grace_seconds": 1800,
        "coalesce": True,
    }


@pytest.mark.parametrize(
    "now",
    [
        datetime(2026, 12, 4, 1, 39, tzinfo=KST),  # after December's first trading day
        datetime(2026, 12, 31, 23, 0, tzinfo=KST),  # 2027-01-01 is closed
        datetime(2027, 3, 31, 12, 0, tzinfo=KST),  # a quarter's first trading day next
    ],
)
def test_scheduler_and_workflows_list_agree_on_the_next_fire(
    env: Env, now: datetime, tmp_path: Path
) -> None:
    """The jobs API (the scheduler's next fire) and `workflows list` show the same instant for
    every shipped schedule, Nth-trading-day filter included (they once disagreed by a month)."""
    from adapters.db.engine import Database
    from adapters.db.jobs import DbJobRunStore
    from adapters.fake import FakeClock
    from orchestrator.calendar import KrxCalendar
    from orchestrator.scheduling import JobSpec, Scheduler, SchedulerSettings

    calendar = KrxCalendar()
    runner = env.runner()
    jobs = tuple(JobSpec.model_validate(s) for s in job_specs(runner))
    scheduler = Scheduler(
        SchedulerSettings(jobs=jobs),
        actions={"workflow:*": lambda fire: None},
        store=DbJobRunStore(Database(f"sqlite+aiosqlite:///{tmp_path / 'j.db'}")),
        calendar=calendar,
        clock=FakeClock(now),
        replica="t",
    )

    for sid, schedule in runner.catalog.schedules.items():
        listed = next_fire(schedule, now, calendar)
        assert scheduler.next_fire_time(f"workflow.{sid}") == listed, sid
    dca = scheduler.next_fire_time("workflow.monthly-dca-005930")
    assert dca is not None
    first_of_next_month = {12: (2027, 1, 4), 3: (2027, 4, 1)}[now.month]
    assert dca.astimezone(KST).date() == date(*first_of_next_month)
