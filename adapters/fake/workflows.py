"""In-memory fakes of the workflow runner's ports: real behaviour, no I/O.

The order placer is idempotent by key like the order service (and can be told to die right after
journaling or right after sending); the store has the SQL store's claim, decide and kill-switch
semantics. Tests wire them with `tests/workflows/env.py`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from decimal import Decimal

from orchestrator.domain.errors import OrchestratorError, SourceError
from orchestrator.domain.model import (
    AccountRef,
    AuditEvent,
    CashBalance,
    OrderState,
    Position,
    Quote,
)
from orchestrator.domain.timeutil import to_kst
from orchestrator.ports.workflows import (
    KillSwitchState,
    OrderOutcome,
    PortfolioView,
    ReconcileSummary,
    RunDecision,
    RunStatus,
    SnapshotSummary,
    TransferProposal,
    TransferRequest,
    WorkflowOrderRequest,
    WorkflowRun,
)
from orchestrator.workflows.plan import sent_notional


class SimulatedCrash(Exception):
    """Stands for the process dying at an awkward moment (not an OrchestratorError)."""


class FakeOrderPlacer:
    """Idempotent by key, like the order service: a journal of intents, and a pretend broker.

    `sends` is every order that reached the broker. A key already in the broker's book is never
    sent again (the real service settles it from the broker's order list).
    """

    def __init__(self) -> None:
        self.journal: dict[str, WorkflowOrderRequest] = {}
        self.book: dict[str, OrderOutcome] = {}
        self.sends: list[WorkflowOrderRequest] = []
        self.crash_after_intent = False
        self.crash_after_send = False
        self.errors: dict[str, OrchestratorError] = {}  # by symbol

    async def place(self, request: WorkflowOrderRequest) -> OrderOutcome:
        key = request.idempotency_key
        if key not in self.journal:
            self.journal[key] = request
            if self.crash_after_intent:
                self.crash_after_intent = False
                raise SimulatedCrash("died after journaling the intent, before sending")
        if key in self.book:
            return self.book[key]
        error = self.errors.get(request.symbol)
        if error is not None:
            raise error
        self.sends.append(request)
        outcome = OrderOutcome(
            idempotency_key=key,
            intent_id=f"I{len(self.journal):04d}",
            state=OrderState.ACCEPTED,
            broker_order_id=f"B{len(self.sends):07d}",
        )
        self.book[key] = outcome
        if self.crash_after_send:
            self.crash_after_send = False
            raise SimulatedCrash("died after sending, before recording the reply")
        return outcome

    def sent_keys(self) -> list[str]:
        return [r.idempotency_key for r in self.sends]


@dataclass
class FakePortfolio:
    at: datetime
    kis_orderable: Decimal = Decimal(5_000_000)
    positions: list[Position] = field(default_factory=list)
    cash: list[CashBalance] = field(default_factory=list)
    prices: dict[str, Decimal] = field(default_factory=dict)
    fail: SourceError | None = None
    reads: int = 0

    def hold(self, account: AccountRef, symbol: str, quantity: int) -> None:
        price = self.prices[symbol]
        self.positions.append(Position(account, symbol, quantity, price, self.at, last_price=price))

    def set_cash(self, account: AccountRef, amount: Decimal) -> None:
        self.cash = [c for c in self.cash if c.account != account]
        self.cash.append(CashBalance(account, amount, self.at, amount, amount))

    def _quotes(self, symbols: Sequence[str]) -> dict[str, Quote]:
        return {s: Quote(s, self.prices[s], self.at) for s in symbols if s in self.prices}

    async def portfolio(
        self, user_id: str, symbols: Sequence[str], account_id: str | None = None
    ) -> PortfolioView:
        self.reads += 1
        if self.fail is not None:
            raise self.fail
        wanted = {*symbols, *(p.symbol for p in self.positions)}
        return PortfolioView(
            as_of=self.at,
            kis_orderable=self.kis_orderable,
            positions=tuple(self.positions),
            cash=tuple(self.cash),
            quotes=self._quotes(sorted(wanted)),
        )

    async def quotes(self, symbols: Sequence[str]) -> Mapping[str, Quote]:
        if self.fail is not None:
            raise self.fail
        return self._quotes(symbols)


@dataclass
class FakeReconciler:
    breaks: int = 0
    runs: int = 0

    async def run_once(self, *, trigger: str) -> ReconcileSummary:
        self.runs += 1
        return ReconcileSummary(f"R{self.runs}", "breaks" if self.breaks else "clean", self.breaks)


@dataclass
class FakeSnapshotter:
    taken: int = 0

    async def snapshot(self, user_id: str, *, trigger: str) -> SnapshotSummary:
        self.taken += 1
        return SnapshotSummary(accounts=2)


@dataclass
class FakeTransferProposer:
    proposals: dict[str, TransferRequest] = field(default_factory=dict)

    async def propose(self, request: TransferRequest) -> TransferProposal:
        self.proposals.setdefault(request.idempotency_key, request)
        kept = self.proposals[request.idempotency_key]
        return TransferProposal(
            f"T-{kept.idempotency_key}", kept.idempotency_key, "proposed", kept.amount
        )


@dataclass
class FakeCalendar:
    """Weekdays minus `holidays`; regular session 09:00-15:30 KST."""

    holidays: frozenset[date] = frozenset()

    def is_trading_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self.holidays

    def is_open(self, at: datetime) -> bool:
        local = to_kst(at)
        return self.is_trading_day(local.date()) and time(9) <= local.time() < time(15, 30)


class InMemoryWorkflowStore:
    """WorkflowRunStore + KillSwitchStore with the same semantics as the SQL store."""

    def __init__(self) -> None:
        self.rows: dict[str, WorkflowRun] = {}
        self.switch = KillSwitchState(on=False)
        self.audit: list[AuditEvent] = []

    async def claim(self, run: WorkflowRun) -> tuple[WorkflowRun, bool]:
        for existing in self.rows.values():
            if existing.fire_key == run.fire_key:
                return existing, False
        self.rows[run.id] = run
        return run, True

    async def save(self, run: WorkflowRun) -> None:
        self.rows[run.id] = run

    async def get(self, run_id: str) -> WorkflowRun | None:
        return self.rows.get(run_id)

    async def runs(
        self,
        *,
        workflow: str | None = None,
        status: RunStatus | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Sequence[WorkflowRun]:
        rows = [
            r
            for r in self.rows.values()
            if (workflow is None or r.workflow == workflow)
            and (status is None or r.status == status)
        ]
        rows.sort(key=lambda r: r.created_at, reverse=True)
        return rows[offset : offset + limit]

    async def decide(self, run_id: str, decision: RunDecision) -> WorkflowRun | None:
        run = self.rows[run_id]
        if run.status is not RunStatus.AWAITING_APPROVAL:
            return None
        expired = run.expires_at is not None and run.expires_at <= decision.at
        if decision.to is RunStatus.EXECUTING and expired:
            return None
        moved = replace(
            run,
            status=decision.to,
            decided_at=decision.at,
            decided_by=decision.by,
            updated_at=decision.at,
            finished_at=None if decision.to is RunStatus.EXECUTING else decision.at,
        )
        self.rows[run_id] = moved
        self.audit.append(
            AuditEvent(
                decision.at, decision.by, f"workflow.{decision.to}", f"workflow_run:{run_id}"
            )
        )
        return moved

    async def awaiting_until(self, before: datetime) -> Sequence[WorkflowRun]:
        return [
            r
            for r in self.rows.values()
            if r.status is RunStatus.AWAITING_APPROVAL
            and r.expires_at is not None
            and r.expires_at <= before
        ]

    async def sent_notional_since(self, since: datetime) -> Decimal:
        return sum(
            (sent_notional(r.outcome, since) for r in self.rows.values() if not r.dry_run),
            Decimal(0),
        )

    async def kill_switch(self) -> KillSwitchState:
        return self.switch

    async def set_kill_switch(self, state: KillSwitchState) -> KillSwitchState:
        self.switch = state
        assert state.updated_at is not None
        self.audit.append(
            AuditEvent(state.updated_at, state.updated_by, "killswitch", "killswitch")
        )
        return state
