"""The console's pages (GET): each reads our own database through the read models and renders a
template. Nothing here calls a vendor. A request carrying `X-Fragment: 1` (the live-refresh
script) gets only the part of the page that refreshes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse

from orchestrator.api.routes import PathInstant
from orchestrator.domain.errors import NotFound
from orchestrator.ports.scheduling import ItemStatus
from orchestrator.web import charts
from orchestrator.web.app import Renderer
from orchestrator.web.auth import require_session
from orchestrator.web.deps import ConsoleDeps

PAGE_SIZE = 50
Page = Annotated[int, Query(ge=1, le=10_000)]
ORDER_STATES = (
    "pending_submit",
    "submitted",
    "accepted",
    "partially_filled",
    "filled",
    "cancelled",
    "rejected",
    "unknown",
    "not_found",
)
BREAK_STATES = ("active", "open", "acknowledged", "resolved")
OUTCOME_STATES: tuple[ItemStatus, ...] = ("succeeded", "failed")


def _fragment(request: Request) -> bool:
    return request.headers.get("x-fragment") == "1"


async def _readiness(deps: ConsoleDeps) -> dict[str, bool]:
    results: dict[str, bool] = {}
    for name, check in deps.readiness.items():
        try:
            # A check answers True, False, or why it is not ready (a string: not ready).
            results[name] = (await check()) is True
        except Exception:  # a failing check is "not ready", never an error page
            results[name] = False
    return results


def _weights(portfolio: Mapping[str, Any] | None) -> dict[str, Decimal]:
    """Percent of securities value held in each symbol (what rebalance targets are set on)."""
    if not portfolio:
        return {}
    values: dict[str, Decimal] = {}
    for p in portfolio.get("positions") or []:
        values[p["symbol"]] = values.get(p["symbol"], Decimal(0)) + Decimal(p["market_value"])
    total = Decimal(str(portfolio.get("total") or "0"))
    if total <= 0:
        return {}
    return {s: (v * 100 / total).quantize(Decimal("0.1")) for s, v in values.items()}


def pages_router(deps: ConsoleDeps, render: Renderer) -> APIRouter:
    router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
    q = deps.api.queries

    async def overview_context() -> dict[str, Any]:
        runs = await q.reconciliations(1, 0)
        api = deps.api
        readiness = await _readiness(deps)
        return {
            "readiness": readiness,
            "ready": bool(readiness) and all(readiness.values()),
            "last_run": runs[0] if runs else None,
            "open_breaks": await q.open_break_count(),
            "recent_breaks": await q.breaks("active", 5, 0),
            "breakers": dict(api.probes.breaker_states()),
            "skew": dict(api.probes.clock_skew()),
            "expiries": dict(await q.secret_expiries()),
            "kill_switch": None if api.killswitch is None else await api.killswitch.state(),
            "scheduler_running": None if api.jobs is None else api.jobs.running,
            "can_reconcile": deps.reconcile_now is not None,
        }

    @router.get("/")
    async def overview(request: Request) -> Response:
        session = require_session(request, deps.sessions)
        context = await overview_context()
        name = "_overview.html" if _fragment(request) else "overview.html"
        return render.page(request, name, session, title="Overview", **context)

    @router.get("/portfolio")
    async def portfolio(request: Request, user: str | None = None) -> Response:
        session = require_session(request, deps.sessions)
        user_id = user if user is not None and user in deps.users else deps.api.default_user
        found = await q.latest_portfolio(user_id)
        sources: list[Mapping[str, Any]] = []
        if found is not None:
            run = await q.reconciliation(str(found["run_id"]))
            report = (run or {}).get("report") or {}
            sources = [s for s in report.get("sources", []) if s.get("user_id") == user_id]
        history = await q.portfolio_history(user_id, 60)
        return render.page(
            request,
            "portfolio.html",
            session,
            title="Portfolio",
            users=deps.users,
            user_id=user_id,
            portfolio=found,
            sources=sources,
            history=history,
            weights=_weights(found),
            targets=deps.targets(),
        )

    # Drawing is the slow part (pygal, ~100 ms for 60 points); a chart only changes when a
    # reconciliation finishes, so it is kept per (chart, user, newest run).
    drawn: dict[tuple[str, str, str], bytes] = {}

    @router.get("/portfolio/charts/{name}.svg", response_class=Response)
    async def chart(request: Request, name: str, user: str | None = None) -> Response:
        require_session(request, deps.sessions)
        user_id = user if user is not None and user in deps.users else deps.api.default_user
        newest = await q.reconciliations(1, 0)
        key = (name, user_id, f"{newest[0]['id']}:{newest[0].get('finished_at')}" if newest else "")
        body = drawn.get(key)
        if body is None:
            body = await draw(name, user_id)
            if len(drawn) >= 64:
                drawn.pop(next(iter(drawn)))
            drawn[key] = body
        return Response(body, media_type="image/svg+xml", headers={"Cache-Control": "no-store"})

    async def draw(name: str, user_id: str) -> bytes:
        if name == "value":
            body = charts.total_value(await q.portfolio_history(user_id, 60))
        elif name == "cash":
            body = charts.cash_by_institution(await q.portfolio_history(user_id, 60))
        elif name == "allocation":
            found = await q.latest_portfolio(user_id)
            body = charts.allocation(_weights(found), deps.targets())
        else:
            raise HTTPException(404, "no such chart")
        return body

    @router.get("/reconciliations")
    async def reconciliations(request: Request, page: Page = 1) -> Response:
        session = require_session(request, deps.sessions)
        runs = await q.reconciliations(PAGE_SIZE + 1, (page - 1) * PAGE_SIZE)
        return render.page(
            request,
            "reconciliations.html",
            session,
            title="Reconciliations",
            runs=runs[:PAGE_SIZE],
            page=page,
            has_next=len(runs) > PAGE_SIZE,
            can_reconcile=deps.reconcile_now is not None,
        )

    @router.get("/reconciliations/progress/{task_id}")
    async def progress(request: Request, task_id: str) -> Response:
        session = require_session(request, deps.sessions)
        found = None if deps.reconcile_now is None else deps.reconcile_now.progress(task_id)
        if found is None:
            raise HTTPException(404, "no such reconciliation task")
        name = "_progress.html" if _fragment(request) else "progress.html"
        return render.page(
            request, name, session, title="Reconciling", task_id=task_id, progress=found
        )

    @router.get("/reconciliations/{run_id}")
    async def reconciliation(request: Request, run_id: str) -> Response:
        session = require_session(request, deps.sessions)
        run = await q.reconciliation(run_id)
        if run is None:
            raise HTTPException(404, f"no reconciliation run {run_id}")
        return render.page(
            request,
            "reconciliation.html",
            session,
            title=f"Reconciliation {run_id[:8]}",
            run=run,
            report=run.get("report") or {},
        )

    @router.get("/breaks")
    async def breaks(request: Request, state: str = "active", page: Page = 1) -> Response:
        session = require_session(request, deps.sessions)
        wanted = state if state in BREAK_STATES else None
        found = await q.breaks(wanted, PAGE_SIZE + 1, (page - 1) * PAGE_SIZE)
        return render.page(
            request,
            "breaks.html",
            session,
            title="Breaks",
            breaks=found[:PAGE_SIZE],
            state=wanted or "all",
            states=BREAK_STATES,
            page=page,
            has_next=len(found) > PAGE_SIZE,
        )

    @router.get("/breaks/{break_id}")
    async def break_detail(request: Request, break_id: int) -> Response:
        session = require_session(request, deps.sessions)
        found = await q.break_detail(break_id)
        if found is None:
            raise HTTPException(404, f"no break {break_id}")
        return render.page(
            request,
            "break.html",
            session,
            title=f"Break {break_id}",
            brk=found,
            rules=deps.rules,
            can_decide=deps.breaks is not None,
        )

    @router.get("/orders")
    async def orders(request: Request, state: str | None = None, page: Page = 1) -> Response:
        session = require_session(request, deps.sessions)
        wanted = state if state in ORDER_STATES else None
        found = await q.orders(wanted, PAGE_SIZE + 1, (page - 1) * PAGE_SIZE)
        context: dict[str, Any] = {
            "orders": found[:PAGE_SIZE],
            "state": wanted,
            "states": ORDER_STATES,
            "page": page,
            "has_next": len(found) > PAGE_SIZE,
            "can_order": deps.orders is not None,
            "users": deps.users,
            "new_key": _new_key(),
        }
        name = "_orders.html" if _fragment(request) else "orders.html"
        return render.page(request, name, session, title="Orders", **context)

    @router.get("/jobs")
    async def jobs(request: Request) -> Response:
        session = require_session(request, deps.sessions)
        control = deps.api.jobs
        listed: Sequence[Mapping[str, Any]] = [] if control is None else await control.jobs()
        runs: Sequence[Mapping[str, Any]] = [] if control is None else await control.runs(None, 50)
        return render.page(
            request,
            "jobs.html",
            session,
            title="Jobs",
            jobs=listed,
            runs=runs,
            scheduler=control is not None,
        )

    @router.get("/jobs/runs/{job_id}/{scheduled_for}")
    async def job_run(
        request: Request,
        job_id: str,
        scheduled_for: PathInstant,
        status: str | None = None,
        page: Page = 1,
    ) -> Response:
        session = require_session(request, deps.sessions)
        control = deps.api.jobs
        if control is None:
            raise HTTPException(404, "the scheduler is not running in this process")
        wanted = next((s for s in OUTCOME_STATES if s == status), None)
        run = await control.run(
            job_id, scheduled_for, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, status=wanted
        )
        if run is None:
            raise HTTPException(404, f"no run of {job_id} scheduled for {scheduled_for}")
        return render.page(
            request,
            "job_run.html",
            session,
            title=f"Run of {job_id}",
            run=run,
            outcomes=run["investors"],
            state=wanted,
            states=OUTCOME_STATES,
            page=page,
            has_next=run["page"]["next_offset"] is not None,
        )

    @router.get("/workflows")
    async def workflows(request: Request) -> Response:
        session = require_session(request, deps.sessions)
        control = deps.api.workflows
        defs: Sequence[Mapping[str, Any]] = [] if control is None else control.workflows()
        runs: Sequence[Mapping[str, Any]] = [] if control is None else await control.runs(None, 50)
        return render.page(
            request,
            "workflows.html",
            session,
            title="Workflows",
            workflows=defs,
            runs=runs,
            enabled=control is not None,
            can_dry_run=deps.workflow_desk is not None,
        )

    @router.get("/workflows/runs/{run_id}")
    async def workflow_run(request: Request, run_id: str) -> Response:
        session = require_session(request, deps.sessions)
        if deps.workflow_desk is None:
            raise HTTPException(404, "workflows are not running in this process")
        try:
            run = await deps.workflow_desk.run(run_id)
        except KeyError as e:
            raise HTTPException(404, f"no workflow run {run_id}") from e
        return render.page(
            request, "workflow_run.html", session, title=f"Workflow run {run_id[:8]}", run=run
        )

    @router.get("/investors")
    async def investors(request: Request, cursor: str | None = None) -> Response:
        session = require_session(request, deps.sessions)
        if deps.investors is None:
            raise HTTPException(404, "investor records are not available in this process")
        page = await deps.investors.list(limit=PAGE_SIZE, cursor=cursor)
        return render.page(
            request,
            "investors.html",
            session,
            title="Investors",
            investors=page.items,
            next_cursor=page.next_cursor,
        )

    @router.get("/investors/{investor_id}")
    async def investor(request: Request, investor_id: str) -> Response:
        session = require_session(request, deps.sessions)
        if deps.investors is None:
            raise HTTPException(404, "investor records are not available in this process")
        try:
            found = await deps.investors.get(investor_id)
        except NotFound as e:
            raise HTTPException(404, f"no investor {investor_id}") from e
        accounts = await deps.investors.accounts(investor_id)
        return render.page(
            request,
            "investor.html",
            session,
            title=f"Investor {investor_id}",
            investor=found,
            accounts=accounts,
            portfolio=await q.latest_portfolio(investor_id),
        )

    @router.get("/audit")
    async def audit(request: Request, page: Page = 1) -> Response:
        session = require_session(request, deps.sessions)
        events = await q.audit(PAGE_SIZE + 1, (page - 1) * PAGE_SIZE)
        return render.page(
            request,
            "audit.html",
            session,
            title="Audit",
            events=events[:PAGE_SIZE],
            page=page,
            has_next=len(events) > PAGE_SIZE,
            can_verify=deps.verify_audit is not None,
        )

    return router


def _new_key() -> str:
    import uuid

    return f"console-{uuid.uuid4().hex}"
