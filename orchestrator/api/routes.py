"""/api/v1: the operator's view. Reads come from our database (never a vendor); mutations need
the operator role and are audited by the controls they call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response
from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StrictBool

from orchestrator.api.auth import (
    AUTH_RESPONSES,
    MUTATION_RESPONSES,
    ApiKey,
    Principal,
    authenticator,
)
from orchestrator.api.errors import error_responses
from orchestrator.api.schemas import (
    AuditOut,
    BreakOut,
    JobActionOut,
    JobOut,
    JobRunDetailOut,
    JobRunOut,
    KillSwitchOut,
    OrderOut,
    PortfolioOut,
    RunDetailOut,
    RunOut,
    WorkflowOut,
    WorkflowRunOut,
)
from orchestrator.api.strict import STRICT_RESPONSES, reject_unknown_query
from orchestrator.domain.errors import NotFound
from orchestrator.domain.model import OrderState
from orchestrator.ports.control import JobControl, KillSwitchControl, WorkflowControl
from orchestrator.ports.queries import OperatorQueries

# Every query and path value is bounded: an unbounded integer reaches the database driver as a
# 64-bit overflow (a 500), an unbounded string as an oversized parameter.
MAX_OFFSET = 1_000_000
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
OptIdent = Annotated[str | None, Query(min_length=1, max_length=64)]
PathIdent = Annotated[str, Path(min_length=1, max_length=64)]
NOT_FOUND = error_responses(404)


_INSTANT = "an ISO 8601 time with its offset, e.g. 2026-06-04T01:00:00+00:00"


def iso_instant(value: object) -> object:
    """ISO 8601 text (`Z` or an offset; a naive one is refused by AwareDatetime after this),
    nothing else: not a bare number. An instant outside the years 1-9999 in UTC is refused too
    (it could not be compared with a stored key)."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or len(value) > 64:
        raise ValueError(_INSTANT)
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is not None:
            parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise ValueError(_INSTANT) from None
    return parsed


# A fire's key as the runs list shows it (`scheduled_for`); a naive time is refused (422).
PathInstant = Annotated[
    AwareDatetime,
    BeforeValidator(iso_instant),
    Path(description="The fire's scheduled time as the runs list shows it: " + _INSTANT),
]


@dataclass
class StatusProbes:
    """Live, in-process facts for /status (no vendor calls: the upstream layer records them)."""

    breaker_states: Callable[[], Mapping[str, str]] = dict
    clock_skew: Callable[[], Mapping[str, float]] = dict
    order_recovery: Callable[[], Mapping[str, object] | None] = lambda: None


@dataclass
class ApiDeps:
    mode: str
    keys: tuple[ApiKey, ...]
    queries: OperatorQueries
    probes: StatusProbes = field(default_factory=StatusProbes)
    jobs: JobControl | None = None
    killswitch: KillSwitchControl | None = None
    workflows: WorkflowControl | None = None
    default_user: str = "demo"


class KillSwitchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Strict: "yes", 1 or "true" must not turn every order off (or on) by accident.
    on: StrictBool
    # At least one visible character (str.strip() also drops the \x1c-\x1f separators).
    reason: str = Field(min_length=1, max_length=500, pattern=r"[^\s\x1c-\x1f]")


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="", max_length=500)


class OrderRecoveryOut(BaseModel):
    """Start-up order recovery: orders are accepted only once `state` is ready."""

    state: Literal["pending", "running", "ready", "failed"]
    slow: bool
    reason: str | None
    error: str | None
    started_at: datetime | None
    finished_at: datetime | None


class StatusOut(BaseModel):
    mode: str
    last_reconciliation: dict[str, Any] | None
    open_breaks: int
    breakers: dict[str, str]
    token_expiries: dict[str, datetime | None]
    clock_skew_seconds: dict[str, float]
    scheduler_running: bool | None
    kill_switch: dict[str, Any] | None
    order_recovery: OrderRecoveryOut | None = None


def _recovery_out(found: Mapping[str, object] | None) -> OrderRecoveryOut | None:
    return None if found is None else OrderRecoveryOut.model_validate(dict(found))


def _unavailable(what: str) -> HTTPException:
    return HTTPException(503, f"{what} is not running in this process")


def operator_router(deps: ApiDeps) -> APIRouter:
    require = authenticator(deps.keys)
    viewer = Depends(require("viewer"))
    operator = Depends(require("operator"))
    # Portfolio, orders and breaks also answer an investor key, scoped to its investor.
    anyone = Depends(require("investor"))
    router = APIRouter(
        prefix="/api/v1",
        responses={**AUTH_RESPONSES, **STRICT_RESPONSES},
        dependencies=[Depends(reject_unknown_query)],
    )
    q = deps.queries

    @router.get("/status", response_model=StatusOut, dependencies=[viewer], tags=["status"])
    async def status() -> StatusOut:
        """Mode, last reconciliation, open breaks, breaker states, token expiries, clock skew."""
        runs = await q.reconciliations(1, 0)
        return StatusOut(
            mode=deps.mode,
            last_reconciliation=dict(runs[0]) if runs else None,
            open_breaks=await q.open_break_count(),
            breakers=dict(deps.probes.breaker_states()),
            token_expiries=dict(await q.secret_expiries()),
            clock_skew_seconds=dict(deps.probes.clock_skew()),
            scheduler_running=None if deps.jobs is None else deps.jobs.running,
            kill_switch=None if deps.killswitch is None else dict(await deps.killswitch.state()),
            order_recovery=_recovery_out(deps.probes.order_recovery()),
        )

    @router.get(
        "/reconciliations",
        response_model=list[RunOut],
        dependencies=[viewer],
        tags=["reconciliation"],
    )
    async def reconciliations(limit: Limit = 50, offset: Offset = 0) -> list[dict[str, Any]]:
        """Reconciliation runs, newest first."""
        return [dict(r) for r in await q.reconciliations(limit, offset)]

    @router.get(
        "/reconciliations/{run_id}",
        response_model=RunDetailOut,
        dependencies=[viewer],
        responses=NOT_FOUND,
        tags=["reconciliation"],
    )
    async def reconciliation(run_id: PathIdent) -> dict[str, Any]:
        """One run with its breaks."""
        run = await q.reconciliation(run_id)
        if run is None:
            raise NotFound(f"no reconciliation run {run_id}")
        return dict(run)

    @router.get(
        "/breaks",
        response_model=list[BreakOut],
        responses=NOT_FOUND,
        tags=["reconciliation"],
    )
    async def breaks(
        status: Annotated[
            str | None, Query(pattern="^(open|acknowledged|resolved|active)$")
        ] = "open",
        user_id: OptIdent = None,
        limit: Limit = 100,
        offset: Offset = 0,
        who: Principal = anyone,
    ) -> list[dict[str, Any]]:
        """Reconciliation breaks (open by default; `active` = open or acknowledged), of one
        user when `user_id` is given (an investor key: always its own)."""
        return [dict(b) for b in await q.breaks(status, limit, offset, who.only(user_id))]

    @router.get(
        "/portfolio",
        response_model=PortfolioOut,
        responses=NOT_FOUND,
        tags=["portfolio"],
    )
    async def portfolio(user_id: OptIdent = None, who: Principal = anyone) -> dict[str, Any]:
        """Consolidated portfolio as of the newest reconciliation (default: the first user; an
        investor key: its own)."""
        user = who.only(user_id) or deps.default_user
        result = await q.latest_portfolio(user)
        if result is None:
            raise NotFound(f"no finished reconciliation has a portfolio for {user}")
        return dict(result)

    @router.get("/orders", response_model=list[OrderOut], responses=NOT_FOUND, tags=["orders"])
    async def orders(
        # An enum, so an unknown state is a 422 naming the allowed ones (not an empty list).
        state: Annotated[OrderState | None, Query()] = None,
        user_id: OptIdent = None,
        limit: Limit = 100,
        offset: Offset = 0,
        who: Principal = anyone,
    ) -> list[dict[str, Any]]:
        """Order intents and what became of them, newest first; one user's when `user_id` is
        given (an investor key: always its own)."""
        return [dict(o) for o in await q.orders(state, limit, offset, who.only(user_id))]

    @router.get("/audit", response_model=list[AuditOut], dependencies=[viewer], tags=["audit"])
    async def audit(limit: Limit = 100, offset: Offset = 0) -> list[dict[str, Any]]:
        """The audit log, newest first."""
        return [dict(a) for a in await q.audit(limit, offset)]

    @router.get("/jobs", response_model=list[JobOut], dependencies=[viewer], tags=["jobs"])
    async def jobs() -> list[dict[str, Any]]:
        """Scheduled jobs with their next fire time."""
        if deps.jobs is None:
            raise _unavailable("the scheduler")
        return [dict(j) for j in await deps.jobs.jobs()]

    @router.get("/jobs/runs", response_model=list[JobRunOut], dependencies=[viewer], tags=["jobs"])
    async def job_runs(job_id: OptIdent = None, limit: Limit = 100) -> list[dict[str, Any]]:
        """Run history of scheduled fires (one row per fire, whichever replica ran it)."""
        if deps.jobs is None:
            raise _unavailable("the scheduler")
        return [dict(r) for r in await deps.jobs.runs(job_id, limit)]

    @router.get(
        "/jobs/runs/{job_id}/{scheduled_for}",
        response_model=JobRunDetailOut,
        dependencies=[viewer],
        responses=NOT_FOUND,
        tags=["jobs"],
    )
    async def job_run(
        job_id: PathIdent,
        scheduled_for: PathInstant,
        status: Annotated[Literal["succeeded", "failed"] | None, Query()] = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> dict[str, Any]:
        """One fire (its key: `job_id` and `scheduled_for` as the runs list shows them) with its
        counts and one page of its per-investor outcomes, by investor id; `status` keeps only
        the succeeded or the failed ones."""
        if deps.jobs is None:
            raise _unavailable("the scheduler")
        found = await deps.jobs.run(
            job_id, scheduled_for, limit=limit, offset=offset, status=status
        )
        if found is None:
            raise NotFound(f"no run of {job_id} scheduled for {scheduled_for.isoformat()}")
        return dict(found)

    @router.post(
        "/jobs/{job_id}/{action}",
        response_model=JobActionOut,
        responses={**MUTATION_RESPONSES, **NOT_FOUND},
        tags=["jobs"],
    )
    async def job_action(
        job_id: PathIdent,
        action: Annotated[str, Depends(_job_action)],
        who: Principal = operator,
    ) -> dict[str, Any]:
        """Trigger, pause or resume a job."""
        if deps.jobs is None:
            raise _unavailable("the scheduler")
        known = {j["id"] for j in await deps.jobs.jobs()}
        if job_id not in known:
            raise NotFound(f"no job {job_id}")
        if action == "trigger":
            return dict(await deps.jobs.trigger(job_id, who.name))
        if action == "pause":
            await deps.jobs.pause(job_id, who.name)
        else:
            await deps.jobs.resume(job_id, who.name)
        return {"job_id": job_id, "action": action}

    @router.get(
        "/killswitch", response_model=KillSwitchOut, dependencies=[viewer], tags=["guardrails"]
    )
    async def killswitch_state() -> dict[str, Any]:
        """Whether every order and transfer is currently stopped."""
        if deps.killswitch is None:
            raise _unavailable("the kill switch")
        return dict(await deps.killswitch.state())

    @router.post(
        "/killswitch",
        response_model=KillSwitchOut,
        responses=MUTATION_RESPONSES,
        tags=["guardrails"],
    )
    async def killswitch(body: KillSwitchIn, who: Principal = operator) -> dict[str, Any]:
        """Turn the kill switch on (stop every order and transfer) or off. Audited."""
        if deps.killswitch is None:
            raise _unavailable("the kill switch")
        return dict(await deps.killswitch.set(body.on, body.reason, who.name))

    @router.get(
        "/workflows", response_model=list[WorkflowOut], dependencies=[viewer], tags=["workflows"]
    )
    async def workflows() -> list[dict[str, Any]]:
        """Loaded workflows and their schedules."""
        if deps.workflows is None:
            raise _unavailable("workflows")
        return [dict(w) for w in deps.workflows.workflows()]

    @router.get(
        "/workflows/runs",
        response_model=list[WorkflowRunOut],
        dependencies=[viewer],
        tags=["workflows"],
    )
    async def workflow_runs(workflow: OptIdent = None, limit: Limit = 50) -> list[dict[str, Any]]:
        """Workflow runs with plan, decisions, orders and outcome."""
        if deps.workflows is None:
            raise _unavailable("workflows")
        return [dict(r) for r in await deps.workflows.runs(workflow, limit)]

    @router.post(
        "/workflows/runs/{run_id}/{decision}",
        response_model=WorkflowRunOut,
        responses={
            **MUTATION_RESPONSES,
            **NOT_FOUND,
            **error_responses(409),
        },
        tags=["workflows"],
    )
    async def workflow_decision(
        run_id: PathIdent,
        decision: Annotated[str, Depends(_decision)],
        body: DecisionIn | None = None,
        who: Principal = operator,
    ) -> dict[str, Any]:
        """Approve (execute the plan) or reject a run awaiting approval (audited; a rejection
        may say why)."""
        if deps.workflows is None:
            raise _unavailable("workflows")
        # RunNotFound -> 404, RunNotAwaitingApproval -> 409: orchestrator/api/errors.py
        if decision == "approve":
            return dict(await deps.workflows.approve(run_id, who.name))
        reason = "" if body is None else body.reason
        return dict(await deps.workflows.reject(run_id, who.name, reason))

    return router


def _job_action(action: Annotated[str, Path(max_length=20)]) -> str:
    if action not in ("trigger", "pause", "resume"):
        raise NotFound("action must be trigger, pause or resume")
    return action


def _decision(decision: Annotated[str, Path(max_length=20)]) -> str:
    if decision not in ("approve", "reject"):
        raise NotFound("decision must be approve or reject")
    return decision


def metrics_router(
    render: Callable[[], tuple[bytes, str]],
    refresh: Callable[[], Awaitable[None]] | None = None,
) -> APIRouter:
    router = APIRouter(tags=["metrics"])

    @router.get("/metrics", response_class=Response)
    async def metrics() -> Response:
        """Prometheus exposition: upstream counters and latencies, operational gauges."""
        if refresh is not None:
            await refresh()
        body, content_type = render()
        return Response(content=body, media_type=content_type)

    return router
