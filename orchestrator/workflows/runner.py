"""The workflow runner: plan one fire, wait for an operator when asked, execute at most once.

    run(name, scheduled_for)  claim the fire (unique fire_key) -> plan (observations run, nothing
                              sent) -> dry run: PLANNED | conditions unmet: SKIPPED |
                              approval mode with orders/transfers: AWAITING_APPROVAL |
                              otherwise execute -> SUCCEEDED / BLOCKED / FAILED
    approve(run_id)           AWAITING_APPROVAL -> execute; once expired: EXPIRED, nothing sent
    reject(run_id)            AWAITING_APPROVAL -> REJECTED
    expire_overdue()          every run whose approval window has passed -> EXPIRED

Exactly once: a fire has one run (the store refuses a second fire_key); running the same fire
again returns that run, or resumes it when a crash left it EXECUTING. Every order carries an
idempotency key derived from (workflow, fire, step, symbol) and the OrderPlacer is idempotent by
key, so a resumed run never sends an order twice. Progress is saved after every action.
Each order is checked against the guardrails and the kill switch right before it is sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

import structlog
from structlog.contextvars import bound_contextvars

from orchestrator.domain.alerts import Alert, Severity
from orchestrator.domain.errors import (
    NotFound,
    SourceError,
    StateConflict,
)
from orchestrator.domain.timeutil import to_kst, to_utc
from orchestrator.ports.upstream import Clock
from orchestrator.ports.workflows import (
    RunDecision,
    RunStatus,
    WorkflowRun,
)
from orchestrator.workflows.conditions import Condition, evaluate_all
from orchestrator.workflows.deps import (
    WorkflowDeps,
    fire_tag,
    kst_day_start,
    nth_trading_day,
)
from orchestrator.workflows.execution import ActionExecutor, notify_safely
from orchestrator.workflows.figures import run_figures
from orchestrator.workflows.guardrails import (
    Limits,
    effective_limits,
)
from orchestrator.workflows.loader import WorkflowCatalog
from orchestrator.workflows.plan import (
    ActionResult,
    OrderAction,
    Outcome,
    Plan,
    TransferAction,
    load_outcome,
    load_plan,
)
from orchestrator.workflows.spec import WorkflowSpec
from orchestrator.workflows.steps import PlanContext, PlanDeps, figures_of, plan_step, won

log = structlog.get_logger(__name__)

# Kept importable from here for callers of the runner.
__all__ = [
    "ApprovalExpired",
    "RunNotAwaitingApproval",
    "RunNotFound",
    "WorkflowDeps",
    "WorkflowRunner",
    "fire_tag",
    "kst_day_start",
    "nth_trading_day",
    "run_figures",
]


class RunNotFound(NotFound, KeyError):
    """No workflow run has that id."""


class RunNotAwaitingApproval(StateConflict, ValueError):
    """The run is not (or no longer) waiting for an operator's decision."""


class ApprovalExpired(RunNotAwaitingApproval):
    """The approval window had passed: the run is now EXPIRED and nothing was sent."""


class WorkflowRunner:
    """Plans, approves and executes workflow runs. One instance per process."""

    def __init__(self, catalog: WorkflowCatalog, deps: WorkflowDeps) -> None:
        self.catalog = catalog
        self._deps = deps
        self._store = deps.store
        self._actions = ActionExecutor(deps, self._account_of)

    @property
    def clock(self) -> Clock:
        return self._deps.clock

    def _account_of(self, workflow: str) -> str | None:
        spec = self.catalog.workflows.get(workflow)
        return None if spec is None else spec.account

    # -- entry points ------------------------------------------------------------------------

    async def fire(self, schedule_id: str, scheduled_for: datetime) -> WorkflowRun | None:
        """Run the schedule's workflow for one scheduled fire; None when the schedule's own
        filters drop this fire (disabled, closed day, not the Nth trading day of the month)."""
        schedule = self.catalog.schedules.get(schedule_id)
        if schedule is None:
            raise KeyError(f"unknown workflow schedule {schedule_id!r}")
        reason = None
        nth = nth_trading_day(self._deps.calendar, scheduled_for)
        if not schedule.enabled:
            reason = "disabled"
        elif schedule.trading_days_only and nth is None:
            reason = "market_closed"
        elif schedule.trading_day_of_month is not None and nth != schedule.trading_day_of_month:
            reason = f"not trading day {schedule.trading_day_of_month} of the month"
        if reason is not None:
            log.info(
                "workflow.fire_skipped",
                schedule=schedule_id,
                scheduled_for=scheduled_for.isoformat(),
                reason=reason,
            )
            return None
        return await self.run(
            schedule.workflow, scheduled_for=scheduled_for, trigger=f"schedule:{schedule_id}"
        )

    async def run(
        self,
        name: str,
        *,
        scheduled_for: datetime | None = None,
        dry_run: bool = False,
        trigger: str | None = None,
    ) -> WorkflowRun:
        """Run `name` for the fire at `scheduled_for` (None: a manual run now).

        Returns the existing run when this fire already has one (resumed first if a crash left
        it executing). Raises WorkflowNotFound for an unknown name.
        """
        spec = self.catalog.workflow(name)
        started = self._deps.clock.now()
        manual = scheduled_for is None
        fire_at = to_utc(scheduled_for or started).replace(microsecond=0)
        tag = fire_tag(fire_at, manual=manual)
        run_id = self._deps.new_id()
        fresh = WorkflowRun(
            id=run_id,
            workflow=name,
            fire_key=f"{name}@dry-run:{run_id}" if dry_run else f"{name}@{tag}",
            status=RunStatus.PLANNING,
            created_at=started,
            updated_at=started,
            dry_run=dry_run,
            scheduled_for=fire_at,
        )
        run, created = await self._store.claim(fresh)
        with bound_contextvars(run_id=run.id, workflow=name):
            if not created:
                if run.status is RunStatus.EXECUTING:
                    log.info("workflow.run_resumed", fire_key=run.fire_key)
                    return await self._execute(spec, run, started, resumed=True)
                if run.status is not RunStatus.PLANNING:
                    log.info("workflow.run_exists", fire_key=run.fire_key, status=run.status)
                    return run
                log.info("workflow.run_replanned", fire_key=run.fire_key)
            trigger = trigger or ("manual" if manual else "schedule")
            return await self._plan_and_go(spec, run, tag, trigger, started)

    async def approve(self, run_id: str, *, by: str) -> WorkflowRun:
        """Execute a plan awaiting approval. Raises RunNotFound, ApprovalExpired (the run is
        marked EXPIRED, nothing sent) or RunNotAwaitingApproval."""
        now = self._deps.clock.now()
        run = await self._get(run_id)
        with bound_contextvars(run_id=run.id, workflow=run.workflow):
            moved = await self._store.decide(run_id, RunDecision(RunStatus.EXECUTING, by, now))
            if moved is None:
                current = await self._get(run_id)
                if _overdue(current, now):
                    await self._expire(current, now)
                    raise ApprovalExpired(
                        f"run {run_id}: the approval window closed at "
                        f"{current.expires_at.isoformat() if current.expires_at else '?'}; "
                        "nothing was sent"
                    )
                raise RunNotAwaitingApproval(
                    f"run {run_id} is {current.status}, not awaiting approval"
                )
            log.info("workflow.run_approved", by=by)
            spec = self.catalog.workflows.get(moved.workflow)
            if spec is None:
                return await self._abandon(moved, now, "the workflow is no longer loaded")
            return await self._execute(spec, moved, now)

    async def reject(self, run_id: str, *, by: str, reason: str = "") -> WorkflowRun:
        """Refuse a plan awaiting approval (nothing is sent). Raises RunNotFound or
        RunNotAwaitingApproval."""
        now = self._deps.clock.now()
        run = await self._get(run_id)
        with bound_contextvars(run_id=run.id, workflow=run.workflow):
            moved = await self._store.decide(
                run_id, RunDecision(RunStatus.REJECTED, by, now, reason)
            )
            if moved is None:
                current = await self._get(run_id)
                raise RunNotAwaitingApproval(
                    f"run {run_id} is {current.status}, not awaiting approval"
                )
            self._log_finished(moved, load_plan(moved.plan), {}, now, by=by)
            return moved

    async def expire_overdue(self) -> list[WorkflowRun]:
        """Mark every run whose approval window has passed EXPIRED; returns them."""
        now = self._deps.clock.now()
        expired = []
        for run in await self._store.awaiting_until(now):
            moved = await self._expire(run, now)
            if moved is not None:
                expired.append(moved)
        return expired

    async def resume_interrupted(self) -> list[WorkflowRun]:
        """Finish every run a crash left EXECUTING (call once at start-up)."""
        finished = []
        for run in await self._store.runs(status=RunStatus.EXECUTING, limit=1000):
            spec = self.catalog.workflows.get(run.workflow)
            now = self._deps.clock.now()
            with bound_contextvars(run_id=run.id, workflow=run.workflow):
                if spec is None:
                    finished.append(await self._abandon(run, now, "workflow no longer loaded"))
                else:
                    finished.append(await self._execute(spec, run, now, resumed=True))
        return finished

    # -- planning ----------------------------------------------------------------------------

    async def _plan_and_go(
        self, spec: WorkflowSpec, run: WorkflowRun, tag: str, trigger: str, started: datetime
    ) -> WorkflowRun:
        assert run.scheduled_for is not None
        kill = await self._deps.kill_switch.kill_switch()
        ctx = PlanContext(
            name=run.workflow,
            spec=spec,
            catalog=self.catalog,
            limits=self._limits(spec),
            deps=PlanDeps(self._deps.portfolio, self._deps.reconciler, self._deps.snapshots),
            fire_at=run.scheduled_for,
            fire_tag=tag,
            dry_run=run.dry_run,
            kill_switch_on=kill.on,
            sent_today=await self._store.sent_notional_since(kst_day_start(started)),
        )
        skipped = not await self._conditions_hold("workflow", "workflow", spec.when, ctx)
        halted_steps = 0
        for step in () if skipped else spec.steps:
            if ctx.halted is not None:
                halted_steps += 1
                ctx.decide(step.key, step.step, "skipped", f"halted: {ctx.halted}")
            elif await self._conditions_hold(step.key, step.step, step.when, ctx):
                try:
                    await plan_step(step, ctx)
                except SourceError as e:
                    ctx.failed = True
                    ctx.halted = f"{step.key}: {e}"
                    ctx.decide(step.key, step.step, "failed", str(e))
        figures = (
            {} if ctx.view is None else {k: str(v) for k, v in figures_of(ctx.view)[1].items()}
        )
        plan = Plan(
            workflow=run.workflow,
            user=spec.user,
            mode=spec.effective_mode,
            trigger=trigger,
            fire_tag=tag,
            scheduled_for=run.scheduled_for,
            actions=tuple(ctx.actions),
            figures=figures,
            halted=ctx.halted if halted_steps or ctx.failed else None,
            failed=ctx.failed,
            skipped=skipped,
        )
        run = replace(
            run,
            plan=plan.to_json(),
            decisions=[d.to_json() for d in ctx.decisions],
            updated_at=self._deps.clock.now(),
        )
        if run.dry_run or plan.failed or plan.skipped or not plan.actions:
            status = RunStatus.PLANNED if run.dry_run else _planning_status(plan)
            now = self._deps.clock.now()
            run = replace(run, status=status, finished_at=now, updated_at=now)
            await self._store.save(run)
            self._log_finished(run, plan, {}, started)
            return run
        if plan.mode == "approval" and plan.needs_approval:
            now = self._deps.clock.now()
            run = replace(
                run,
                status=RunStatus.AWAITING_APPROVAL,
                expires_at=now + spec.approval.expires_after,
                updated_at=now,
            )
            await self._store.save(run)
            await self._ask_approval(run, plan)
            self._log_finished(run, plan, {}, started)
            return run
        run = replace(run, status=RunStatus.EXECUTING)
        await self._store.save(run)
        return await self._execute(spec, run, started)

    async def _conditions_hold(
        self, step: str, kind: str, conds: Sequence[Condition], ctx: PlanContext
    ) -> bool:
        if not conds:
            return True
        if any(c.needs_portfolio for c in conds):
            try:
                await ctx.portfolio()
            except SourceError as e:
                ctx.failed = True
                ctx.halted = f"portfolio unavailable: {e}"
                ctx.decide(step, kind, "failed", str(e))
                return False
        verdict = evaluate_all(conds, ctx.facts())
        if not verdict.holds:
            ctx.decide(step, kind, "skipped", f"condition not met: {verdict.detail}")
        return verdict.holds

    async def _ask_approval(self, run: WorkflowRun, plan: Plan) -> None:
        orders = [o for o in plan.orders if o.blocked is None]
        lines = [f"{o.side} {o.quantity} {o.symbol} @ {o.limit_price or 'market'}" for o in orders]
        lines += [
            f"transfer {won(a.amount)}"
            for a in plan.actions
            if isinstance(a, TransferAction) and a.blocked is None
        ]
        expires = to_kst(run.expires_at).isoformat() if run.expires_at else "?"
        await self._notify(
            Alert(
                key=f"workflow.{run.workflow}.approval",
                text=(
                    f"Workflow {run.workflow} run {run.id} awaits approval until {expires}: "
                    + "; ".join(lines)
                ),
                severity=Severity.INFO,
                detail={"run_id": run.id, "workflow": run.workflow},
            )
        )

    # -- execution ---------------------------------------------------------------------------

    async def _execute(
        self, spec: WorkflowSpec, run: WorkflowRun, started: datetime, *, resumed: bool = False
    ) -> WorkflowRun:
        plan = load_plan(run.plan)
        results = load_outcome(run.outcome).by_action()
        limits = self._limits(spec)
        if run.status is not RunStatus.EXECUTING:
            run = replace(run, status=RunStatus.EXECUTING, updated_at=self._deps.clock.now())
            await self._store.save(run)
        quotes, quote_error = await self._actions.quotes(plan, results)
        for action in plan.actions:
            if action.n in results:
                continue  # done before a crash: never again
            result = await self._actions.perform(
                run, plan, action, limits, results, quotes, quote_error
            )
            results[action.n] = result
            run = replace(
                run,
                outcome=Outcome(results=tuple(results[n] for n in sorted(results))).to_json(),
                updated_at=self._deps.clock.now(),
            )
            await self._store.save(run)
        statuses = {r.status for r in results.values()}
        status = (
            RunStatus.FAILED
            if "failed" in statuses
            else RunStatus.BLOCKED
            if "blocked" in statuses
            else RunStatus.SUCCEEDED
        )
        now = self._deps.clock.now()
        run = replace(run, status=status, finished_at=now, updated_at=now)
        await self._store.save(run)
        self._log_finished(run, plan, results, started, resumed=resumed)
        if status is not RunStatus.SUCCEEDED:
            await self._notify(
                Alert(
                    key=f"workflow.{run.workflow}.{status}",
                    text=f"Workflow {run.workflow} run {run.id} {status}: "
                    + "; ".join(
                        f"{r.status}: {r.detail}"
                        for r in results.values()
                        if r.status in ("failed", "blocked")
                    ),
                    severity=Severity.WARNING,
                    detail={"run_id": run.id, "workflow": run.workflow},
                )
            )
        return run

    # -- helpers -----------------------------------------------------------------------------

    def _limits(self, spec: WorkflowSpec) -> Limits:
        return effective_limits(spec, self._deps.house_limits)

    async def _get(self, run_id: str) -> WorkflowRun:
        run = await self._store.get(run_id)
        if run is None:
            raise RunNotFound(f"no workflow run {run_id!r}")
        return run

    async def _expire(self, run: WorkflowRun, now: datetime) -> WorkflowRun | None:
        moved = await self._store.decide(
            run.id, RunDecision(RunStatus.EXPIRED, "system", now, "approval window passed")
        )
        if moved is not None:
            with bound_contextvars(run_id=run.id, workflow=run.workflow):
                self._log_finished(moved, load_plan(moved.plan), {}, now)
            await self._notify(
                Alert(
                    key=f"workflow.{run.workflow}.expired",
                    text=f"Workflow {run.workflow} run {run.id} expired unapproved; nothing sent",
                    severity=Severity.INFO,
                    detail={"run_id": run.id, "workflow": run.workflow},
                )
            )
        return moved

    async def _abandon(self, run: WorkflowRun, now: datetime, why: str) -> WorkflowRun:
        run = replace(
            run,
            status=RunStatus.FAILED,
            outcome={**run.outcome, "error": why},
            finished_at=now,
            updated_at=now,
        )
        await self._store.save(run)
        log.error("workflow.run_abandoned", reason=why)
        return run

    async def _notify(self, alert: Alert) -> None:
        await notify_safely(self._deps.notifier, alert)

    def _log_finished(
        self,
        run: WorkflowRun,
        plan: Plan,
        results: Mapping[int, ActionResult],
        started: datetime,
        *,
        resumed: bool = False,
        by: str | None = None,
    ) -> None:
        """The one canonical line per run: `workflow.run_finished` with every key figure."""
        fields = run_figures(run, plan, results)
        fields["duration_ms"] = max(
            0, round((self._deps.clock.now() - started).total_seconds() * 1000)
        )
        fields["resumed"] = resumed
        if by is not None:
            fields["by"] = by
        level = "warning" if run.status in (RunStatus.FAILED, RunStatus.BLOCKED) else "info"
        getattr(log, level)("workflow.run_finished", **fields)


def _overdue(run: WorkflowRun, now: datetime) -> bool:
    return (
        run.status is RunStatus.AWAITING_APPROVAL
        and run.expires_at is not None
        and now >= run.expires_at
    )


def _planning_status(plan: Plan) -> RunStatus:
    if plan.failed:
        return RunStatus.FAILED
    if plan.skipped or plan.halted is not None:
        return RunStatus.SKIPPED
    blocked = any(
        isinstance(a, OrderAction | TransferAction) and a.blocked is not None for a in plan.actions
    )
    return RunStatus.BLOCKED if blocked else RunStatus.SUCCEEDED
