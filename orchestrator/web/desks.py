"""The console's side of the services: small adapters from form fields to the use cases, with
JSON-ready results. Business rules stay in the services; these only translate."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from orchestrator.domain.errors import AccountUnknown, NotFound
from orchestrator.domain.model import OrderType, Side
from orchestrator.domain.money import to_money
from orchestrator.ports.orders import OrderRecord
from orchestrator.services.orders import OrderRequest, OrderService
from orchestrator.services.reconcile import ReconcileService
from orchestrator.services.workflow_support import AccountDirectory
from orchestrator.workflows.control import WorkflowOperations, run_out
from orchestrator.workflows.loader import WorkflowNotFound
from orchestrator.workflows.runner import WorkflowRunner

log = structlog.get_logger(__name__)


def order_out(record: OrderRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "state": record.state.value,
        "cancel_state": None if record.cancel_state is None else record.cancel_state.value,
        "idempotency_key": record.intent.idempotency_key,
    }


class ConsoleOrders:
    """OrderDesk over the order journal: one idempotency key per confirmed form, so a double
    click or a resubmitted form finds the first intent and sends nothing more."""

    def __init__(self, service: OrderService, directory: AccountDirectory) -> None:
        self._service = service
        self._directory = directory

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
    ) -> Mapping[str, Any]:
        if not idempotency_key:
            raise ValueError("an idempotency key is required")
        try:
            account = await self._directory.trading_account(user_id)
        except AccountUnknown as e:
            # The caller named a user with no trading account here: an id to check (404), not an
            # upstream problem (502).
            raise NotFound(f"user {user_id} has no trading account configured") from e
        request = OrderRequest(
            idempotency_key=idempotency_key,
            account=account,
            symbol=symbol,
            side=Side(side),
            quantity=quantity,
            order_type=OrderType.LIMIT if price else OrderType.MARKET,
            limit_price=to_money(price, field="price") if price else None,
            origin="console",
        )
        return order_out(await self._service.place(request, actor=actor))

    async def cancel(self, intent_id: str, *, actor: str) -> Mapping[str, Any]:
        return order_out(await self._service.cancel(intent_id, actor=actor))


@dataclass
class _Task:
    actor: str
    status: str = "queued"
    done: int = 0
    total: int = 0
    run_id: str | None = None
    error: str | None = None


class ReconcileTasks:
    """ReconcileNow: runs in the background of this process; progress is users done / total.
    Finished tasks are forgotten after `keep` newer ones (the run itself is in the database)."""

    def __init__(self, service: ReconcileService, *, keep: int = 50) -> None:
        self._service = service
        self._tasks: dict[str, _Task] = {}
        self._keep = keep
        self._running: set[asyncio.Task[None]] = set()

    def start(self, actor: str) -> str:
        task_id = uuid.uuid4().hex
        task = _Task(actor)
        self._tasks[task_id] = task
        while len(self._tasks) > self._keep:
            del self._tasks[next(iter(self._tasks))]
        job = asyncio.get_running_loop().create_task(self._run(task))
        self._running.add(job)
        job.add_done_callback(self._running.discard)
        return task_id

    async def _run(self, task: _Task) -> None:
        def progress(run_id: str, done: int, total: int) -> None:
            task.run_id, task.done, task.total, task.status = run_id, done, total, "running"

        try:
            report = await self._service.run_once(
                trigger=f"console:{task.actor}", progress=progress
            )
            task.status = str(report.status)
        except Exception as e:  # shown on the progress page; the log has the traceback
            log.exception("console.reconcile_failed")
            task.status, task.error = "failed", str(e)

    def progress(self, task_id: str) -> Mapping[str, Any] | None:
        task = self._tasks.get(task_id)
        if task is None:
            return None
        return {
            "status": task.status,
            "done": task.done,
            "total": task.total,
            "run_id": task.run_id,
            "error": task.error,
        }

    async def wait(self) -> None:
        """Tests and shutdown: wait for every started reconciliation."""
        while self._running:
            await asyncio.gather(*list(self._running), return_exceptions=True)


class ConsoleWorkflows:
    """WorkflowDesk: dry-run from the page (plans, sends nothing) and one run's detail."""

    def __init__(self, runner: WorkflowRunner, operations: WorkflowOperations) -> None:
        self._runner = runner
        self._operations = operations

    async def dry_run(self, name: str, actor: str) -> Mapping[str, Any]:
        try:
            run = await self._runner.run(name, dry_run=True, trigger=f"console:{actor}")
        except WorkflowNotFound as e:
            raise KeyError(name) from e
        return run_out(run)

    async def run(self, run_id: str) -> Mapping[str, Any]:
        return await self._operations.run(run_id)


def rebalance_targets(runner: WorkflowRunner | None) -> dict[str, dict[str, str]]:
    """{workflow: {symbol: target percent}} for every workflow with a rebalance step."""
    if runner is None:
        return {}
    out: dict[str, dict[str, str]] = {}
    for name, spec in runner.catalog.workflows.items():
        for step in spec.steps:
            targets = getattr(step, "targets", None)
            if step.step == "rebalance" and isinstance(targets, Mapping):
                out[name] = {str(k): str(v) for k, v in targets.items()}
    return out
