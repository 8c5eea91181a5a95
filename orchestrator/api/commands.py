"""Operator commands over HTTP: place and cancel orders, reconcile now, acknowledge a break.

All need the `operator` role and are audited by the services they call (the order journal's
audit events, the break lifecycle's, the reconciliation run's trigger names the key). The CLI
uses these when a service runs for its configuration, so locks, audit and logs stay in one
process. Bad input is a 422 naming the field, before anything is written.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Protocol

from fastapi import APIRouter, Depends, Header, HTTPException, Path
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from orchestrator.api.auth import (
    AUTH_RESPONSES,
    MUTATION_RESPONSES,
    ApiKey,
    Principal,
    authenticator,
)
from orchestrator.api.errors import error_responses
from orchestrator.api.schemas import WorkflowRunOut
from orchestrator.domain.errors import NotFound
from orchestrator.ports.control import ReconcileNow, WorkflowControl


class OrderCommands(Protocol):
    async def place(
        self,
        *,
        user_id: str,
        symbol: str,
        side: str,
        quantity: int,
        price: str | None,
        idempotency_key: str,
        actor: str,
    ) -> Mapping[str, Any]: ...

    async def cancel(self, intent_id: str, *, actor: str) -> Mapping[str, Any]: ...


class BreakCommands(Protocol):
    async def acknowledge(self, break_id: int, comment: str, actor: str) -> Any: ...


@dataclass
class CommandDeps:
    keys: tuple[ApiKey, ...]
    orders: OrderCommands | None = None
    reconcile: ReconcileNow | None = None
    breaks: BreakCommands | None = None
    workflows: WorkflowControl | None = None
    default_user: str = "demo"


class RunWorkflowIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dry_run: StrictBool = Field(default=False, description="Plan only; send nothing.")


class PlaceOrderIn(BaseModel):
    # strict: a quantity of 1.0 or "1" is refused, not read as 1 (an order is said exactly).
    model_config = ConfigDict(extra="forbid", strict=True)
    user: str | None = Field(default=None, min_length=1, max_length=64)
    symbol: str = Field(pattern=r"^[0-9]{6}$", description="6-digit KRX code")
    side: Literal["buy", "sell"]
    quantity: int = Field(gt=0, le=9_999_999_999)
    price: str | None = Field(
        default=None, pattern=r"^[0-9]{1,12}$", description="whole KRW; omit for market"
    )


class CommandOrderOut(BaseModel):
    id: str
    state: str
    cancel_state: str | None
    idempotency_key: str


class ReconcileStartedOut(BaseModel):
    task_id: str
    run_id: str | None
    progress: str


class ReconcileProgressOut(BaseModel):
    status: str
    done: int
    total: int
    run_id: str | None
    error: str | None


class AcknowledgeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment: str = Field(min_length=1, max_length=1000)


class AcknowledgedOut(BaseModel):
    id: int
    status: str
    acknowledged_by: str | None
    acknowledged_at: str | None
    note: str | None


IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Names the decision: a retry with the same key places nothing more.",
    ),
]


def _unavailable(what: str) -> HTTPException:
    return HTTPException(503, f"{what} is not available in this process")


def commands_router(deps: CommandDeps) -> APIRouter:
    operator = Depends(authenticator(deps.keys)("operator"))
    router = APIRouter(prefix="/api/v1", responses=AUTH_RESPONSES)
    refused = error_responses(404, 409, 422, 503)

    @router.post(
        "/orders",
        response_model=CommandOrderOut,
        responses={**MUTATION_RESPONSES, **refused},
        tags=["orders"],
    )
    async def place_order(
        body: PlaceOrderIn, key: IdempotencyKey, who: Principal = operator
    ) -> dict[str, Any]:
        """Place one order on the user's trading account: recorded, then sent once."""
        if deps.orders is None:
            raise _unavailable("orders")
        return dict(
            await deps.orders.place(
                user_id=body.user or deps.default_user,
                symbol=body.symbol,
                side=body.side,
                quantity=body.quantity,
                price=body.price,
                idempotency_key=key,
                actor=f"api:{who.name}",
            )
        )

    @router.post(
        "/orders/{intent_id}/cancel",
        response_model=CommandOrderOut,
        responses={**MUTATION_RESPONSES, **error_responses(404, 409, 503)},
        tags=["orders"],
    )
    async def cancel_order(
        intent_id: Annotated[str, Path(min_length=1, max_length=64)], who: Principal = operator
    ) -> dict[str, Any]:
        """Cancel the unfilled remainder of one of our orders (sent at most once)."""
        if deps.orders is None:
            raise _unavailable("orders")
        return dict(await deps.orders.cancel(intent_id, actor=f"api:{who.name}"))

    @router.post(
        "/reconciliations",
        response_model=ReconcileStartedOut,
        responses=MUTATION_RESPONSES,
        tags=["reconciliation"],
    )
    async def reconcile_now(who: Principal = operator) -> ReconcileStartedOut:
        """Start a reconciliation now; follow it at `progress`."""
        if deps.reconcile is None:
            raise _unavailable("reconciliation")
        task_id = deps.reconcile.start(f"api:{who.name}")
        run_id = None
        for _ in range(100):  # let the run start and name itself (yields, never sleeps)
            await asyncio.sleep(0)
            found = deps.reconcile.progress(task_id)
            if found is not None and found.get("run_id"):
                run_id = str(found["run_id"])
                break
        return ReconcileStartedOut(
            task_id=task_id, run_id=run_id, progress=f"/api/v1/reconciliations/tasks/{task_id}"
        )

    @router.get(
        "/reconciliations/tasks/{task_id}",
        response_model=ReconcileProgressOut,
        dependencies=[operator],
        responses={**MUTATION_RESPONSES, **error_responses(404)},
        tags=["reconciliation"],
    )
    async def reconcile_progress(
        task_id: Annotated[str, Path(min_length=1, max_length=64)],
    ) -> dict[str, Any]:
        """Users done of total, the run id once started, and the final status."""
        found = None if deps.reconcile is None else deps.reconcile.progress(task_id)
        if found is None:
            raise NotFound(f"no reconciliation task {task_id}")
        return dict(found)

    @router.post(
        "/workflows/{name}/run",
        response_model=WorkflowRunOut,
        responses={**MUTATION_RESPONSES, **error_responses(404, 409, 503)},
        tags=["workflows"],
    )
    async def run_workflow(
        name: Annotated[str, Path(min_length=1, max_length=64)],
        body: RunWorkflowIn | None = None,
        who: Principal = operator,
    ) -> dict[str, Any]:
        """Run a workflow now (audited): a dry run plans and sends nothing; an approval-mode
        workflow stops at a plan awaiting approval; an auto one executes."""
        if deps.workflows is None:
            raise _unavailable("workflows")
        dry_run = body is not None and body.dry_run
        return dict(await deps.workflows.start(name, f"api:{who.name}", dry_run=dry_run))

    @router.post(
        "/breaks/{break_id}/acknowledge",
        response_model=AcknowledgedOut,
        responses={**MUTATION_RESPONSES, **error_responses(404, 409, 422)},
        tags=["reconciliation"],
    )
    async def acknowledge_break(
        break_id: Annotated[int, Path(ge=1, le=2**62)],
        body: AcknowledgeIn,
        who: Principal = operator,
    ) -> AcknowledgedOut:
        """Acknowledge a break with a comment (audited); it stays active until a run clears it."""
        if deps.breaks is None:
            raise _unavailable("breaks")
        record = await deps.breaks.acknowledge(break_id, body.comment, f"api:{who.name}")
        return AcknowledgedOut(
            id=record.id,
            status=str(getattr(record.status, "value", record.status)),
            acknowledged_by=record.acknowledged_by,
            acknowledged_at=(
                None if record.acknowledged_at is None else record.acknowledged_at.isoformat()
            ),
            note=record.note,
        )

    return router
