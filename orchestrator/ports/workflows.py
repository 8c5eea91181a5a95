"""What the workflow runner needs from the rest of the service, as small structural Protocols.

The runner never imports the order, reconciliation, transfer or scheduling services: the
composition root adapts them to these roles. Values crossing these ports are plain frozen
dataclasses (Decimal money, int quantities, aware datetimes); persisted plans are JSON objects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from orchestrator.domain.model import (
    CashBalance,
    Institution,
    OrderState,
    OrderType,
    Position,
    Quote,
    Side,
)
from orchestrator.domain.money import ZERO, check_money, check_quantity
from orchestrator.domain.timeutil import check_aware
from orchestrator.logging import mask_at_rest

JsonObject = Mapping[str, object]
"""A JSON-ready mapping (str keys; str/int/bool/None/list/dict values; money as strings)."""

# --------------------------------------------------------------------------------------------
# Orders, portfolio, reconciliation, transfers, calendar
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkflowOrderRequest:
    """An order a workflow wants placed at KIS. `idempotency_key` names what it is for
    (workflow, scheduled fire, step, symbol): the same key always means the same order."""

    idempotency_key: str
    user_id: str
    symbol: str
    side: Side
    quantity: int
    order_type: OrderType
    limit_price: Decimal | None = None
    origin: str = "workflow"
    account_id: str | None = None  # None: the user's first trading account

    def __post_init__(self) -> None:
        check_quantity(self, "quantity")
        check_money(self, "limit_price")
        if self.quantity <= 0:
            raise ValueError("WorkflowOrderRequest.quantity must be positive")
        if (self.order_type is OrderType.LIMIT) != (self.limit_price is not None):
            raise ValueError("a limit order needs limit_price; a market order has none")


@dataclass(frozen=True, slots=True)
class OrderOutcome:
    """What became of a placed request, as far as the order service knows right now."""

    idempotency_key: str
    intent_id: str
    state: OrderState
    broker_order_id: str | None = None
    message: str = ""


class OrderPlacer(Protocol):
    """The order service (intent journal + guarded submit), seen from a workflow."""

    async def place(self, request: WorkflowOrderRequest) -> OrderOutcome:
        """Journal an intent for `request` and send it to the broker once.

        Idempotent by `idempotency_key`: when an intent with that key exists, nothing new is
        journaled or sent; its current outcome is returned (an intent a crash left unsent is
        settled from the broker's order list before anything is sent). Safe to call twice.
        Raises GuardrailViolation (refused, nothing journaled), OrderRejected (never resend),
        OrderOutcomeUnknown (maybe live; the service settles it) or SourceUnavailable (nothing
        sent; calling again with the same key is safe).
        """
        ...


@dataclass(frozen=True, slots=True)
class PortfolioView:
    """The consolidated portfolio of one user across institutions, read for planning.

    `kis_orderable` is the cash KIS accepts buy orders against right now (주문가능현금, settled
    and usable), never the headline deposit: it is the only budget for buys. `positions` and
    `cash` cover every institution (Samsung via open banking, KIS); `quotes` cover every held
    symbol and every symbol asked for.
    """

    as_of: datetime
    kis_orderable: Decimal
    positions: tuple[Position, ...] = ()
    cash: tuple[CashBalance, ...] = ()
    quotes: Mapping[str, Quote] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_money(self, "kis_orderable")
        check_aware(self, "as_of")

    def quantity(self, symbol: str, institution: Institution | None = None) -> int:
        """Shares of `symbol` held (at `institution`, or everywhere when None)."""
        return sum(
            p.quantity
            for p in self.positions
            if p.symbol == symbol and (institution is None or p.account.institution == institution)
        )

    def price(self, symbol: str) -> Decimal | None:
        """Last quote, else the position's last price, else None."""
        quote = self.quotes.get(symbol)
        if quote is not None:
            return quote.price
        for p in self.positions:
            if p.symbol == symbol and p.last_price is not None:
                return p.last_price
        return None

    def cash_at(self, institution: Institution) -> Decimal:
        """Cash at an institution: settled (withdrawable) where reported, else the deposit."""
        total = ZERO
        for c in self.cash:
            if c.account.institution == institution:
                total += c.withdrawable if c.withdrawable is not None else c.deposit
        return total

    def positions_value(self) -> Decimal:
        total = ZERO
        for p in self.positions:
            price = self.price(p.symbol)
            total += (price if price is not None else p.avg_price) * p.quantity
        return total


class PortfolioReader(Protocol):
    """Consolidated positions, cash by institution, KIS orderable cash and last quotes."""

    async def portfolio(
        self, user_id: str, symbols: Sequence[str], account_id: str | None = None
    ) -> PortfolioView:
        """A fresh view; quotes include `symbols` even when not held. `kis_orderable` is the
        orderable cash of trading account `account_id` (None: the user's first).

        Raises SourceUnavailable (retry later) or AuthError/ConsentRequired. Safe to repeat.
        """
        ...

    async def quotes(self, symbols: Sequence[str]) -> Mapping[str, Quote]:
        """Last prices of `symbols` (used for the price collar at send time). Safe to repeat."""
        ...


@dataclass(frozen=True, slots=True)
class ReconcileSummary:
    run_id: str
    status: str
    break_count: int


class Reconciler(Protocol):
    async def run_once(self, *, trigger: str) -> ReconcileSummary:
        """Read every source fresh, compare, record breaks and alert. Raises SourceError."""
        ...


@dataclass(frozen=True, slots=True)
class SnapshotSummary:
    accounts: int
    failed: int = 0


class Snapshotter(Protocol):
    async def snapshot(self, user_id: str, *, trigger: str) -> SnapshotSummary:
        """Read and store a snapshot of every account of the user. Raises SourceError."""
        ...


@dataclass(frozen=True, slots=True)
class TransferRequest:
    """A proposed funding transfer (Samsung → KIS by default). Proposing moves no money."""

    idempotency_key: str
    user_id: str
    amount: Decimal
    reason: str
    from_institution: Institution = Institution.SAMSUNG_SECURITIES
    to_institution: Institution = Institution.KIS

    def __post_init__(self) -> None:
        check_money(self, "amount")
        if self.amount <= ZERO:
            raise ValueError("TransferRequest.amount must be positive")


@dataclass(frozen=True, slots=True)
class TransferProposal:
    id: str
    idempotency_key: str
    state: str
    amount: Decimal

    def __post_init__(self) -> None:
        check_money(self, "amount")


class TransferProposer(Protocol):
    """The guarded transfer path: a proposal executes only after an operator approves it."""

    async def propose(self, request: TransferRequest) -> TransferProposal:
        """Record the proposal (idempotent by key: a second call returns the first proposal).

        Moves no money. Raises GuardrailViolation when the transfer path refuses it.
        """
        ...


class TradingCalendar(Protocol):
    """The KRX calendar (orchestrator.calendar.KrxCalendar satisfies it)."""

    def is_trading_day(self, day: date) -> bool:
        """True when KRX trades on the KST date `day`."""
        ...

    def is_open(self, at: datetime) -> bool:
        """True while the regular session is open at the aware instant `at`."""
        ...


# --------------------------------------------------------------------------------------------
# Persistence: runs and the kill switch
# --------------------------------------------------------------------------------------------


class RunStatus(StrEnum):
    """Life of a workflow run. Resting states are everything but PLANNING and EXECUTING."""

    PLANNING = "planning"
    AWAITING_APPROVAL = "awaiting_approval"
    EXECUTING = "executing"
    PLANNED = "planned"  # dry run: a plan, nothing sent
    SKIPPED = "skipped"  # the workflow's own conditions did not hold
    SUCCEEDED = "succeeded"
    BLOCKED = "blocked"  # finished; a guardrail or the kill switch stopped an order/transfer
    FAILED = "failed"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def terminal(self) -> bool:
        return self not in (
            RunStatus.PLANNING,
            RunStatus.AWAITING_APPROVAL,
            RunStatus.EXECUTING,
        )


@dataclass(frozen=True, slots=True)
class WorkflowRun:
    """One run of a workflow for one fire. `fire_key` is unique: one run per fire, ever."""

    id: str
    workflow: str
    fire_key: str
    status: RunStatus
    created_at: datetime
    updated_at: datetime
    dry_run: bool = False
    scheduled_for: datetime | None = None
    plan: JsonObject = field(default_factory=dict)
    decisions: Sequence[JsonObject] = ()
    outcome: JsonObject = field(default_factory=dict)
    expires_at: datetime | None = None
    decided_at: datetime | None = None
    decided_by: str | None = None
    finished_at: datetime | None = None

    def __post_init__(self) -> None:
        check_aware(
            self,
            "created_at",
            "updated_at",
            "scheduled_for",
            "expires_at",
            "decided_at",
            "finished_at",
        )


@dataclass(frozen=True, slots=True)
class RunDecision:
    """An operator's (or the clock's) move of a run out of AWAITING_APPROVAL."""

    to: RunStatus  # EXECUTING (approved), REJECTED or EXPIRED
    by: str
    at: datetime
    reason: str = ""

    def __post_init__(self) -> None:
        check_aware(self, "at")


class WorkflowRunStore(Protocol):
    """Durable workflow runs (SQL in production). Every write is one transaction."""

    async def claim(self, run: WorkflowRun) -> tuple[WorkflowRun, bool]:
        """Insert `run`; (run, True). When its fire_key exists, write nothing and return
        (existing run, False). Concurrent claimers of one key get one run between them."""
        ...

    async def save(self, run: WorkflowRun) -> None:
        """Overwrite the mutable fields (status, plan, decisions, outcome, times) by id."""
        ...

    async def get(self, run_id: str) -> WorkflowRun | None: ...

    async def runs(
        self,
        *,
        workflow: str | None = None,
        status: RunStatus | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Sequence[WorkflowRun]:
        """Newest first."""
        ...

    async def decide(self, run_id: str, decision: RunDecision) -> WorkflowRun | None:
        """Move the run from AWAITING_APPROVAL to `decision.to`, audited in the same transaction.

        Compare-and-set: returns the moved run, or None when it was not awaiting approval (one
        of two racing approvers wins) or, for an approval (to EXECUTING), when its expires_at is
        at or before `decision.at`. Sets decided_at/decided_by; EXPIRED and REJECTED also set
        finished_at. Raises KeyError for an unknown run.
        """
        ...

    async def awaiting_until(self, before: datetime) -> Sequence[WorkflowRun]:
        """Runs awaiting approval whose expires_at is at or before `before`."""
        ...

    async def sent_notional_since(self, since: datetime) -> Decimal:
        """Estimated notional of every workflow order sent at or after `since` (per-day cap)."""
        ...


@dataclass(frozen=True, slots=True)
class KillSwitchState:
    on: bool
    reason: str = ""
    updated_at: datetime | None = None
    updated_by: str = ""

    def __post_init__(self) -> None:
        check_aware(self, "updated_at")
        # The operator's reason is free text (it may quote an account number or a token): masked
        # before it is stored, shown or audited.
        object.__setattr__(self, "reason", mask_at_rest(self.reason))

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form for the API."""
        return {
            "on": self.on,
            "reason": self.reason,
            "updated_at": None if self.updated_at is None else self.updated_at.isoformat(),
            "updated_by": self.updated_by,
        }


class KillSwitchStore(Protocol):
    """The persisted kill switch, shared by every replica."""

    async def kill_switch(self) -> KillSwitchState:
        """Current state (off when never set). Read fresh on every call."""
        ...

    async def set_kill_switch(self, state: KillSwitchState) -> KillSwitchState:
        """Persist `state` and append an audit event in the same transaction. Safe to repeat."""
        ...
