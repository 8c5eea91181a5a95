"""What the console is given by the composition root: the API's read models and controls, plus
the services its forms drive. Each optional part is None when this process does not run it (the
page then says so instead of offering the action)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from orchestrator.api.health import ReadinessCheck
from orchestrator.api.routes import ApiDeps
from orchestrator.ports import Clock
from orchestrator.ports.control import ReconcileNow
from orchestrator.web.sessions import SessionStore


class ChainCheck(Protocol):
    @property
    def checked(self) -> int: ...

    @property
    def first_broken_seq(self) -> int | None: ...

    @property
    def reason(self) -> str: ...


class OrderDesk(Protocol):
    """Placing and cancelling from a form; JSON-ready results (see bootstrap.ConsoleOrders)."""

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
        """ValueError for an invalid order; domain errors (guardrails, not ready) as they come."""
        ...

    async def cancel(self, intent_id: str, *, actor: str) -> Mapping[str, Any]: ...


class BreakDesk(Protocol):
    """Operator decisions on a break (orchestrator.services.breaks.BreakService). Raises
    NotFound, StateConflict or InvalidRequest (all OrchestratorError)."""

    async def acknowledge(self, break_id: int, comment: str, actor: str) -> object: ...

    async def resolve_manually(self, break_id: int, reason: str, actor: str) -> object: ...


class InvestorDirectory(Protocol):
    """Read side of orchestrator.services.investors.InvestorService (list, one, accounts)."""

    async def list(self, *, limit: int = 50, cursor: str | None = None) -> Any: ...

    async def get(self, investor_id: str) -> Any: ...

    async def accounts(self, investor_id: str) -> Any: ...


class WorkflowDesk(Protocol):
    async def dry_run(self, name: str, actor: str) -> Mapping[str, Any]:
        """Plan `name` now without sending anything. KeyError for an unknown workflow."""
        ...

    async def run(self, run_id: str) -> Mapping[str, Any]:
        """One run; KeyError when unknown."""
        ...


@dataclass
class ConsoleDeps:
    api: ApiDeps
    sessions: SessionStore
    clock: Clock
    users: Sequence[str]
    readiness: Mapping[str, ReadinessCheck] = field(default_factory=dict)
    orders: OrderDesk | None = None
    breaks: BreakDesk | None = None
    reconcile_now: ReconcileNow | None = None
    workflow_desk: WorkflowDesk | None = None
    verify_audit: Callable[[], Awaitable[ChainCheck]] | None = None
    investors: InvestorDirectory | None = None
    # Rebalance targets by workflow name: {symbol: weight as a decimal string}.
    targets: Callable[[], Mapping[str, Mapping[str, str]]] = dict
    # The tolerances and windows reconciliation judges by (shown beside each break).
    rules: Mapping[str, str] = field(default_factory=dict)
    refresh_ms: int = 5000
