"""Operator reads and decisions on workflows: what the API (`WorkflowControl`) and CLI call.

JSON-ready dictionaries: money as decimal strings, datetimes ISO 8601 with offset.
"""

from __future__ import annotations

from datetime import datetime

from orchestrator.domain.errors import NotFound
from orchestrator.domain.model import AuditEvent
from orchestrator.ports.upstream import AuditLog
from orchestrator.ports.workflows import RunStatus, TradingCalendar, WorkflowRun, WorkflowRunStore
from orchestrator.workflows.loader import WorkflowNotFound
from orchestrator.workflows.plan import load_outcome, load_plan
from orchestrator.workflows.runner import WorkflowRunner, nth_trading_day, run_figures
from orchestrator.workflows.spec import ScheduleSpec, WorkflowSpec

_MAX_SKIPS = 400  # fires dropped by calendar filters before giving up on a next fire time


def run_out(run: WorkflowRun) -> dict[str, object]:
    """A run with its plan, decisions, orders, outcome and key figures."""
    figures: dict[str, object] = {}
    if run.plan:
        figures = run_figures(run, load_plan(run.plan), load_outcome(run.outcome).by_action())
    return {
        "id": run.id,
        "workflow": run.workflow,
        "fire_key": run.fire_key,
        "status": str(run.status),
        "dry_run": run.dry_run,
        "scheduled_for": _iso(run.scheduled_for),
        "created_at": _iso(run.created_at),
        "updated_at": _iso(run.updated_at),
        "expires_at": _iso(run.expires_at),
        "decided_at": _iso(run.decided_at),
        "decided_by": run.decided_by,
        "finished_at": _iso(run.finished_at),
        "figures": figures,
        "plan": dict(run.plan),
        "decisions": [dict(d) for d in run.decisions],
        "outcome": dict(run.outcome),
    }


def workflow_out(
    name: str,
    spec: WorkflowSpec,
    schedules: dict[str, ScheduleSpec],
    *,
    now: datetime | None = None,
    calendar: TradingCalendar | None = None,
) -> dict[str, object]:
    g = spec.guardrails
    return {
        "name": name,
        "description": spec.description,
        "user": spec.user,
        "mode": spec.effective_mode,
        "approval_expires_after_seconds": int(spec.approval.expires_after.total_seconds()),
        "steps": [{"id": s.key, "step": s.step} for s in spec.steps],
        "symbols": list(spec.symbols()),
        "guardrails": {
            "max_order_notional": str(g.max_order_notional),
            "max_daily_notional": str(g.max_daily_notional),
            "max_orders_per_run": g.max_orders_per_run,
            "allowed_symbols": list(g.allowed_symbols or spec.symbols()),
            "price_collar_bps": g.price_collar_bps,
            "session_hours": g.session_hours,
            "max_transfer_amount": str(g.max_transfer_amount),
        },
        "schedules": [
            {
                "id": sid,
                "cron": s.cron,
                "timezone": s.timezone,
                "trading_days_only": s.trading_days_only,
                "trading_day_of_month": s.trading_day_of_month,
                "misfire_grace_seconds": s.misfire_grace_seconds,
                "catch_up": s.catch_up,
                "enabled": s.enabled,
                "next_fire": _iso(next_fire(s, now, calendar)) if now is not None else None,
            }
            for sid, s in sorted(schedules.items())
        ],
    }


def next_fire(
    schedule: ScheduleSpec, after: datetime, calendar: TradingCalendar | None
) -> datetime | None:
    """The next fire of `schedule` after `after` that its filters keep (None if disabled).

    Without a calendar, only the cron expression is applied.
    """
    if not schedule.enabled:
        return None
    trigger = schedule.trigger()
    previous: datetime | None = None
    start = after
    for _ in range(_MAX_SKIPS):
        candidate: datetime | None = trigger.get_next_fire_time(previous, start)
        if candidate is None:
            return None
        if calendar is None:
            return candidate
        nth = nth_trading_day(calendar, candidate)
        wanted = schedule.trading_day_of_month
        if (nth is not None or not schedule.trading_days_only) and (
            wanted is None or nth == wanted
        ):
            return candidate
        previous, start = candidate, candidate
    return None


def job_specs(runner: WorkflowRunner) -> list[dict[str, object]]:
    """Scheduler jobs for every enabled schedule (kwargs for orchestrator.scheduling.JobSpec).

    Each job's action is "workflow:<schedule id>"; its handler calls
    `runner.fire(schedule_id, fire.scheduled_for)`.
    """
    return [
        {
            "id": f"workflow.{sid}",
            "action": f"workflow:{sid}",
            "cron": s.cron,
            "trading_days_only": s.trading_days_only,
            "trading_day_of_month": s.trading_day_of_month,
            "misfire_grace_seconds": s.misfire_grace_seconds,
            "coalesce": s.catch_up == "latest",
        }
        for sid, s in sorted(runner.catalog.schedules.items())
        if s.enabled
    ]


class WorkflowOperations:
    """Satisfies the API's WorkflowControl: list workflows and runs, run now, approve, reject.

    With an audit log, a run started by hand is audited with who started it (approvals and
    rejections are audited by the run store with the decision itself)."""

    def __init__(
        self,
        runner: WorkflowRunner,
        store: WorkflowRunStore,
        *,
        calendar: TradingCalendar | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        self._runner = runner
        self._store = store
        self._calendar = calendar
        self._audit = audit

    async def _audited(self, run: WorkflowRun, by: str) -> None:
        if self._audit is None:
            return
        await self._audit.append(
            AuditEvent(
                at=self._runner.clock.now(),
                actor=by,
                action="workflow.run_started",
                subject=f"workflow_run:{run.id}",
                detail={
                    "workflow": run.workflow,
                    "status": str(run.status),
                    "dry_run": str(run.dry_run).lower(),
                },
            )
        )

    async def start(self, name: str, by: str, *, dry_run: bool = False) -> dict[str, object]:
        """Run `name` now (a dry run sends nothing; approval mode stops at a plan).
        NotFound for an unknown name."""
        try:
            run = await self._runner.run(name, dry_run=dry_run, trigger=f"manual:{by}")
        except WorkflowNotFound as e:
            raise NotFound(str(e)) from None
        await self._audited(run, by)
        return run_out(run)

    def workflows(self) -> list[dict[str, object]]:
        catalog = self._runner.catalog
        now = self._runner.clock.now()
        return [
            workflow_out(name, spec, catalog.schedules_of(name), now=now, calendar=self._calendar)
            for name, spec in sorted(catalog.workflows.items())
        ]

    async def runs(
        self, workflow: str | None, limit: int, status: str | None = None, offset: int = 0
    ) -> list[dict[str, object]]:
        """Runs newest first. A pure read: expiry is swept by `runner.expire_overdue()` (a
        scheduled job) and enforced by `approve` itself."""
        rows = await self._store.runs(
            workflow=workflow,
            status=None if status is None else RunStatus(status),
            limit=limit,
            offset=offset,
        )
        return [run_out(r) for r in rows]

    async def run(self, run_id: str) -> dict[str, object]:
        """One run; KeyError when unknown."""
        run = await self._store.get(run_id)
        if run is None:
            raise KeyError(run_id)
        return run_out(run)

    async def approve(self, run_id: str, by: str) -> dict[str, object]:
        """Execute the plan. KeyError: unknown run; ValueError: not awaiting approval/expired."""
        return run_out(await self._runner.approve(run_id, by=by))

    async def reject(self, run_id: str, by: str, reason: str = "") -> dict[str, object]:
        return run_out(await self._runner.reject(run_id, by=by, reason=reason))


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
