"""The order intent journal: what we decided to send, and everything we learned about it since.

The journal is written before the broker hears of an order, and every later state change is a
compare-and-set on the stored state, so two writers (a placing request and a start-up recovery,
two replicas) can never both move the same intent. Audit events handed to a write are appended in
the same transaction as the change they record.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from orchestrator.domain.errors import OrchestratorError
from orchestrator.domain.model import AuditEvent, Fill, OrderIntent, OrderState
from orchestrator.domain.money import check_money, check_quantity
from orchestrator.domain.timeutil import check_aware
from orchestrator.logging import mask_at_rest


class CancelState(StrEnum):
    """Where a cancel request stands. None on a record means no cancel was ever asked for."""

    REQUESTED = "requested"  # committed, being sent: after a crash, as unknown as UNKNOWN
    UNKNOWN = "unknown"  # sent, reply lost: settle from the order list, never resend
    CONFIRMED = "confirmed"  # the broker cancelled the remainder
    REJECTED = "rejected"  # the broker refused (e.g. nothing left to cancel)
    NOT_FOUND = "not_found"  # the cancel never took effect; a new cancel may be sent

    @property
    def unresolved(self) -> bool:
        return self in (CancelState.REQUESTED, CancelState.UNKNOWN)


class OrderAlreadyClaimed(OrchestratorError):
    """Another intent already owns this broker order; a resolver must look for another match."""


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """One journal entry: the intent as decided, and the latest state we know of it.

    `broker_order_day` is the KST date (YYYYMMDD) of the broker order: brokers restart their order
    numbers every day, so (account, day, order id) is what identifies a broker order.
    """

    intent: OrderIntent
    broker: str
    state: OrderState
    updated_at: datetime
    attempts: int = 0
    broker_order_id: str | None = None
    broker_order_day: str | None = None
    branch: str | None = None
    filled_quantity: int = 0
    avg_fill_price: Decimal | None = None
    reject_code: str | None = None
    last_error: str | None = None
    submitted_at: datetime | None = None
    resolved_at: datetime | None = None
    cancel_requested_at: datetime | None = None
    cancel_state: CancelState | None = None

    def __post_init__(self) -> None:
        check_quantity(self, "attempts", "filled_quantity")
        check_money(self, "avg_fill_price")
        check_aware(self, "updated_at", "submitted_at", "resolved_at", "cancel_requested_at")
        _mask_error(self)

    @property
    def id(self) -> str:
        return self.intent.id

    @property
    def needs_settling(self) -> bool:
        """True while the order, or a cancel of it, may or may not have reached the broker."""
        return self.state.unresolved or (
            self.cancel_state is not None and self.cancel_state.unresolved
        )

    @property
    def remaining_quantity(self) -> int:
        return self.intent.quantity - self.filled_quantity


@dataclass(frozen=True, slots=True)
class OrderChange:
    """Columns to change on a journal entry; a field left None is left as it is."""

    at: datetime
    state: OrderState | None = None
    attempts: int | None = None
    broker_order_id: str | None = None
    broker_order_day: str | None = None
    branch: str | None = None
    filled_quantity: int | None = None
    avg_fill_price: Decimal | None = None
    reject_code: str | None = None
    last_error: str | None = None
    submitted_at: datetime | None = None
    resolved_at: datetime | None = None
    cancel_requested_at: datetime | None = None
    cancel_state: CancelState | None = None

    def __post_init__(self) -> None:
        check_money(self, "avg_fill_price")
        check_aware(self, "at", "submitted_at", "resolved_at", "cancel_requested_at")
        _mask_error(self)


def _mask_error(entry: OrderRecord | OrderChange) -> None:
    # last_error quotes vendor messages and exceptions (an account number, a token in a URL):
    # masked here, so that no writer of the journal can store it whole.
    if entry.last_error is not None:
        object.__setattr__(entry, "last_error", mask_at_rest(entry.last_error))


@dataclass(frozen=True, slots=True)
class FillIncrement:
    """Shares filled since the last recorded fill; `cumulative_quantity` makes it idempotent."""

    quantity: int
    cumulative_quantity: int
    price: Decimal
    filled_at: datetime

    def __post_init__(self) -> None:
        check_quantity(self, "quantity", "cumulative_quantity")
        check_money(self, "price")
        check_aware(self, "filled_at")
        if self.quantity <= 0 or self.cumulative_quantity < self.quantity:
            raise ValueError("a fill increment adds a positive quantity to the cumulative total")


@dataclass(frozen=True, slots=True)
class OrderQuery:
    """Filters for listing journal entries, newest first."""

    user_id: str | None = None
    account_id: str | None = None
    states: Collection[OrderState] | None = None
    since: datetime | None = None
    limit: int = 100
    offset: int = 0


class OrderJournal(Protocol):
    """Durable store of order intents and their fills (SQL in production).

    Every write is one transaction; an `audit` event passed with a write commits with it or not at
    all. Writes that take `expect` are compare-and-set: they change nothing and return None when the
    stored state is no longer one of those expected.
    """

    async def record(
        self, intent: OrderIntent, *, broker: str, audit: AuditEvent
    ) -> tuple[OrderRecord, bool]:
        """Commit the intent in PENDING_SUBMIT and return (record, True).

        When the idempotency key is already recorded, nothing is written and the existing record is
        returned with False; concurrent callers with one key get one record between them. Safe to
        call twice.
        """
        ...

    async def get(self, intent_id: str) -> OrderRecord | None:
        """The entry, or None when no intent has that id."""
        ...

    async def by_key(self, idempotency_key: str) -> OrderRecord | None:
        """The entry recorded under the idempotency key, or None."""
        ...

    async def update(
        self,
        intent_id: str,
        change: OrderChange,
        *,
        expect: Collection[OrderState],
        expect_cancel: Collection[CancelState | None] | None = None,
        audit: AuditEvent | None = None,
    ) -> OrderRecord | None:
        """Apply `change` if the state is in `expect` (and the cancel state in `expect_cancel`).

        Returns the changed record, or None when the entry moved on (nothing written). Raises
        OrderAlreadyClaimed when `change` names a broker order another intent owns.
        """
        ...

    async def record_fill(
        self,
        intent_id: str,
        fill: FillIncrement,
        change: OrderChange,
        *,
        expect: Collection[OrderState],
        audit: AuditEvent | None = None,
    ) -> OrderRecord | None:
        """Store the fill increment and apply `change` (and `audit`, in the same transaction), if
        the state is in `expect` and the stored filled quantity is exactly
        `fill.cumulative_quantity - fill.quantity`; otherwise write nothing and return None
        (someone recorded it first, or `change` names a broker order another intent owns).
        Safe to call twice."""
        ...

    async def unresolved(self, broker: str) -> Sequence[OrderRecord]:
        """Entries of the broker whose order or cancel outcome is unsettled, oldest first."""
        ...

    async def with_broker_orders(self, account_id: str, since: datetime) -> Sequence[OrderRecord]:
        """Entries of the account created at or after `since` that own a broker order."""
        ...

    async def find(self, query: OrderQuery) -> Sequence[OrderRecord]:
        """Entries matching the query, newest first."""
        ...

    async def fills(self, intent_id: str) -> Sequence[Fill]:
        """Recorded fill increments of the intent, in order (`Fill.order_id` is the broker's)."""
        ...


class OrderGuard(Protocol):
    """A pre-trade check (risk limits, kill switch) run before an intent is recorded."""

    async def check(self, intent: OrderIntent) -> None:
        """Return when the order may go; raise GuardrailViolation otherwise. Sends nothing."""
        ...
