"""The console's actions (POST). Each checks session, CSRF token and role first (auth.py), calls a
service, and answers with a redirect back to a page that shows the outcome (post/redirect/get:
reloading the page never repeats an action). Refusals become a message on that page."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from orchestrator.domain.errors import NotFound, OrchestratorError
from orchestrator.web.app import Renderer
from orchestrator.web.auth import require_action
from orchestrator.web.deps import ConsoleDeps
from orchestrator.web.sessions import ConsoleSession

_MAX_TEXT = 500


def _back(to: str) -> Response:
    return RedirectResponse(to, status_code=303)


def _text(fields: dict[str, str], name: str, *, required: bool = True) -> str | None:
    value = fields.get(name, "").strip()
    if not value:
        return None
    return value[:_MAX_TEXT] if required or value else None


def _refused(session: ConsoleSession, e: Exception) -> None:
    session.flash("error", f"Refused: {e}")


def actions_router(deps: ConsoleDeps, render: Renderer) -> APIRouter:
    router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
    api = deps.api

    @router.post("/killswitch")
    async def killswitch(request: Request) -> Response:
        session, fields = await require_action(request, deps.sessions)
        if api.killswitch is None:
            raise HTTPException(404, "the kill switch is not available in this process")
        reason = _text(fields, "reason")
        on = fields.get("on") == "true"
        if reason is None:
            session.flash("error", "Say why the kill switch changes (reason is required).")
        elif fields.get("confirm") != "yes":
            session.flash("error", "Tick the confirmation box to change the kill switch.")
        else:
            await api.killswitch.set(on, reason, session.principal.name)
            session.flash("ok", f"Kill switch turned {'ON' if on else 'off'}: {reason}")
        return _back("/")

    @router.post("/reconcile")
    async def reconcile_now(request: Request) -> Response:
        session, _ = await require_action(request, deps.sessions)
        if deps.reconcile_now is None:
            raise HTTPException(404, "reconciliation is not available in this process")
        task = deps.reconcile_now.start(session.principal.name)
        return _back(f"/reconciliations/progress/{quote(task)}")

    @router.post("/breaks/{break_id}/acknowledge")
    async def acknowledge(request: Request, break_id: int) -> Response:
        session, fields = await require_action(request, deps.sessions)
        comment = _text(fields, "comment")
        if deps.breaks is None:
            raise HTTPException(404, "break decisions are not available in this process")
        if comment is None:
            session.flash("error", "A comment is required to acknowledge a break.")
        else:
            try:
                await deps.breaks.acknowledge(break_id, comment, session.principal.name)
                session.flash("ok", f"Break {break_id} acknowledged.")
            except NotFound as e:
                raise HTTPException(404, f"no break {break_id}") from e
            except (ValueError, OrchestratorError) as e:
                _refused(session, e)
        return _back(f"/breaks/{break_id}")

    @router.post("/breaks/{break_id}/resolve")
    async def resolve(request: Request, break_id: int) -> Response:
        session, fields = await require_action(request, deps.sessions)
        reason = _text(fields, "reason")
        if deps.breaks is None:
            raise HTTPException(404, "break decisions are not available in this process")
        if reason is None:
            session.flash("error", "A reason is required to resolve a break by hand.")
        else:
            try:
                await deps.breaks.resolve_manually(break_id, reason, session.principal.name)
                session.flash("ok", f"Break {break_id} resolved by hand.")
            except NotFound as e:
                raise HTTPException(404, f"no break {break_id}") from e
            except (ValueError, OrchestratorError) as e:
                _refused(session, e)
        return _back(f"/breaks/{break_id}")

    @router.post("/orders/confirm")
    async def confirm_order(request: Request) -> Response:
        """Step one of placing: show exactly what would be sent, with the idempotency key that
        the final POST carries (a double click on "Send" reuses it, so one order)."""
        session, fields = await require_action(request, deps.sessions)
        problems: list[str] = []
        quantity = fields.get("quantity", "").strip()
        if not quantity.isdigit() or int(quantity) <= 0:
            problems.append("quantity must be a whole number above 0")
        symbol = fields.get("symbol", "").strip()
        if not (symbol.isalnum() and len(symbol) == 6):
            problems.append("symbol must be a 6-character KRX code, e.g. 005930")
        side = fields.get("side", "")
        if side not in ("buy", "sell"):
            problems.append("side must be buy or sell")
        price = fields.get("price", "").strip() or None
        if price is not None and not price.replace(",", "").isdigit():
            problems.append("price must be whole won (leave empty for a market order)")
        user_id = fields.get("user_id") or api.default_user
        if user_id not in deps.users:
            problems.append(f"unknown user {user_id}")
        key = fields.get("idempotency_key", "").strip()
        if not key or len(key) > 100:
            problems.append("the form lost its idempotency key: reload the page")
        if problems:
            for p in problems:
                session.flash("error", p)
            return _back("/orders")
        return render.page(
            request,
            "order_confirm.html",
            session,
            title="Confirm order",
            order={
                "user_id": user_id,
                "symbol": symbol,
                "side": side,
                "quantity": int(quantity),
                "price": None if price is None else price.replace(",", ""),
                "idempotency_key": key,
            },
        )

    @router.post("/orders")
    async def place(request: Request) -> Response:
        session, fields = await require_action(request, deps.sessions)
        if deps.orders is None:
            raise HTTPException(404, "orders are not available in this process")
        try:
            record = await deps.orders.place(
                user_id=fields.get("user_id") or api.default_user,
                symbol=fields.get("symbol", ""),
                side=fields.get("side", ""),
                quantity=int(fields.get("quantity", "0") or 0),
                price=fields.get("price") or None,
                idempotency_key=fields.get("idempotency_key", ""),
                actor=session.principal.name,
            )
        except (ValueError, OrchestratorError) as e:
            _refused(session, e)
            return _back("/orders")
        session.flash("ok", f"Order {record['id']}: {record['state']}")
        return _back("/orders")

    @router.post("/orders/{intent_id}/cancel")
    async def cancel(request: Request, intent_id: str) -> Response:
        session, _ = await require_action(request, deps.sessions)
        if deps.orders is None:
            raise HTTPException(404, "orders are not available in this process")
        try:
            record = await deps.orders.cancel(intent_id, actor=session.principal.name)
            session.flash("ok", f"Cancel of {intent_id}: {record.get('cancel_state')}")
        except (ValueError, OrchestratorError) as e:
            _refused(session, e)
        return _back("/orders")

    @router.post("/jobs/{job_id}/{action}")
    async def job_action(request: Request, job_id: str, action: str) -> Response:
        session, _ = await require_action(request, deps.sessions)
        if api.jobs is None:
            raise HTTPException(404, "the scheduler is not running in this process")
        if action not in ("trigger", "pause", "resume"):
            raise HTTPException(404, "action must be trigger, pause or resume")
        if job_id not in {j["id"] for j in await api.jobs.jobs()}:
            raise HTTPException(404, f"no job {job_id}")
        who = session.principal.name
        if action == "trigger":
            await api.jobs.trigger(job_id, who)
        elif action == "pause":
            await api.jobs.pause(job_id, who)
        else:
            await api.jobs.resume(job_id, who)
        session.flash("ok", f"Job {job_id}: {action} done.")
        return _back("/jobs")

    @router.post("/workflows/runs/{run_id}/{decision}")
    async def decide(request: Request, run_id: str, decision: str) -> Response:
        session, _ = await require_action(request, deps.sessions)
        if api.workflows is None:
            raise HTTPException(404, "workflows are not running in this process")
        if decision not in ("approve", "reject"):
            raise HTTPException(404, "decision must be approve or reject")
        try:
            if decision == "approve":
                run = await api.workflows.approve(run_id, session.principal.name)
            else:
                run = await api.workflows.reject(run_id, session.principal.name)
            session.flash("ok", f"Run {run_id}: {run.get('status')}")
        except KeyError as e:
            raise HTTPException(404, f"no workflow run {run_id}") from e
        except (ValueError, OrchestratorError) as e:
            _refused(session, e)
        return _back(f"/workflows/runs/{quote(run_id)}")

    @router.post("/workflows/{name}/dry-run")
    async def dry_run(request: Request, name: str) -> Response:
        session, _ = await require_action(request, deps.sessions)
        if deps.workflow_desk is None:
            raise HTTPException(404, "workflows are not running in this process")
        try:
            run = await deps.workflow_desk.dry_run(name, session.principal.name)
        except KeyError as e:
            raise HTTPException(404, f"no workflow {name}") from e
        except (ValueError, OrchestratorError) as e:
            _refused(session, e)
            return _back("/workflows")
        session.flash("ok", f"Dry run of {name}: {run.get('status')} (nothing was sent).")
        return _back(f"/workflows/runs/{quote(str(run['id']))}")

    @router.post("/audit/verify")
    async def verify(request: Request) -> Response:
        session, _ = await require_action(request, deps.sessions, role="viewer")
        if deps.verify_audit is None:
            raise HTTPException(404, "audit verification is not available in this process")
        report = await deps.verify_audit()
        if report.first_broken_seq is None:
            session.flash("ok", f"Audit chain intact: {report.checked} events checked.")
        else:
            session.flash(
                "error",
                f"Audit chain broken at event #{report.first_broken_seq}: {report.reason} "
                f"({report.checked} events before it are intact).",
            )
        return _back("/audit")

    return router
