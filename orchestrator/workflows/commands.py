"""Plain functions behind `orchestrator workflows ...` and `orchestrator killswitch ...`.

Each returns the text to print; deliberate failures raise (ConfigError: exit 2; other
OrchestratorError: exit 1), so the typer layer stays a thin shell around `run_async`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from orchestrator.domain.timeutil import to_kst
from orchestrator.ports.workflows import RunStatus, TradingCalendar, WorkflowRun
from orchestrator.workflows.control import next_fire, run_out
from orchestrator.workflows.killswitch import KillSwitch
from orchestrator.workflows.loader import WorkflowCatalog, load_catalog
from orchestrator.workflows.plan import (
    AlertAction,
    NotifyAction,
    OrderAction,
    TransferAction,
    load_decisions,
    load_outcome,
    load_plan,
)
from orchestrator.workflows.runner import WorkflowRunner
from orchestrator.workflows.steps import won

DEFAULT_DIRECTORY = Path("config/workflows")


def validate(path: Path | None = None) -> str:
    """`workflows validate [PATH]`: a file or a directory. Raises ConfigError naming every
    problem with file:line:column and field."""
    target = path or DEFAULT_DIRECTORY
    catalog = load_catalog(target)
    return (
        f"{target}: ok ({len(catalog.files)} file(s), {len(catalog.workflows)} workflow(s), "
        f"{len(catalog.schedules)} schedule(s))"
    )


def list_workflows(
    catalog: WorkflowCatalog, *, now: datetime, calendar: TradingCalendar | None = None
) -> str:
    """`workflows list`: each workflow with its mode, steps and schedules (next fire in KST)."""
    lines = []
    for name, spec in sorted(catalog.workflows.items()):
        steps = ", ".join(s.key if s.key == s.step else f"{s.key}({s.step})" for s in spec.steps)
        lines.append(f"{name}  [{spec.effective_mode}]  {steps}")
        if spec.description:
            lines.append(f"    {spec.description}")
        for sid, schedule in sorted(catalog.schedules_of(name).items()):
            fire = next_fire(schedule, now, calendar)
            when = to_kst(fire).strftime("%Y-%m-%d %H:%M KST") if fire else "never"
            extra = (
                f", trading day {schedule.trading_day_of_month} of the month"
                if schedule.trading_day_of_month
                else ""
            )
            lines.append(f"    schedule {sid}: cron '{schedule.cron}'{extra}; next {when}")
    return "\n".join(lines) or "no workflows"


async def run(runner: WorkflowRunner, name: str, *, dry_run: bool = False) -> str:
    """`workflows run NAME [--dry-run]`: run now; prints the plan and what happened."""
    return format_run(await runner.run(name, dry_run=dry_run))


async def approve(runner: WorkflowRunner, run_id: str, *, by: str = "cli") -> str:
    """`workflows approve RUN_ID`: execute a plan awaiting approval."""
    return format_run(await runner.approve(run_id, by=by))


async def reject(runner: WorkflowRunner, run_id: str, *, by: str = "cli", reason: str = "") -> str:
    """`workflows reject RUN_ID`."""
    return format_run(await runner.reject(run_id, by=by, reason=reason))


async def killswitch(
    switch: KillSwitch, on: bool | None = None, *, reason: str = "", by: str = "cli"
) -> str:
    """`killswitch [on|off] --reason ...`: show (on=None) or set the kill switch."""
    state = await switch.state() if on is None else await switch.set(on, reason, by)
    return format_killswitch(state)


def format_killswitch(state: Mapping[str, Any]) -> str:
    """The kill switch as a line: on or off, since when (KST), by whom and why."""
    word = "ON: no orders or transfers" if state["on"] else "off"
    if state["updated_at"] is None:
        return f"kill switch {word} (never set)"
    since = state["updated_at"]
    if isinstance(since, str):
        since = datetime.fromisoformat(since)
    return (
        f"kill switch {word} (since {to_kst(since):%Y-%m-%d %H:%M:%S} KST, "
        f"by {state['updated_by']}: {state['reason']})"
    )


def format_run(run: WorkflowRun) -> str:
    """A run as an operator reads it: status, plan, decisions and results."""
    return format_run_out(run_out(run))


def format_run_out(run: Mapping[str, Any]) -> str:
    """The same text from a run's JSON form (`run_out`; what the API answers), so the CLI
    prints one thing whether the service or this process ran the workflow."""
    head = f"run {run['id']}  {run['workflow']}  {run['status']}" + (
        "  (dry run: nothing is sent)" if run.get("dry_run") else ""
    )
    lines = [head, f"  fire {run['fire_key']}"]
    expires = run.get("expires_at")
    if expires and run["status"] == RunStatus.AWAITING_APPROVAL.value:
        at = to_kst(datetime.fromisoformat(str(expires)))
        lines.append(
            f"  awaiting approval until {at:%Y-%m-%d %H:%M} KST "
            f"(orchestrator workflows approve {run['id']})"
        )
    if not run.get("plan"):
        return "\n".join(lines)
    plan = load_plan(run["plan"])
    results = load_outcome(run.get("outcome") or {}).by_action()
    for d in load_decisions(run.get("decisions") or []):
        lines.append(f"  - {d.step}: {d.outcome}{': ' + d.detail if d.detail else ''}")
    for a in plan.actions:
        if isinstance(a, OrderAction):
            price = won(a.limit_price) if a.limit_price is not None else "market"
            text = f"{a.side} {a.quantity} {a.symbol} @ {price} (~{won(a.notional)})"
        elif isinstance(a, TransferAction):
            text = f"propose transfer {won(a.amount)}: {a.reason}"
        elif isinstance(a, AlertAction):
            text = f"alert: {a.text}"
        else:
            assert isinstance(a, NotifyAction)
            text = f"notify: {a.text.splitlines()[0] if a.text else ''}"
        result = results.get(a.n)
        blocked = getattr(a, "blocked", None)
        status = result.status if result else ("blocked" if blocked else "planned")
        lines.append(f"  [{status}] {text}")
    return "\n".join(lines)
