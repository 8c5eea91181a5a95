"""Ports of reconciliation: our own records (journal), the broker's order list, and the store of
runs, snapshots and breaks.

A break is identified by (user, kind, account, key). The store keeps at most one *open* row per
identity: a break seen again is updated (last run, last seen), never duplicated; a break no longer
seen is resolved; a break that could not be judged this run (its source failed, or the thing is
still in flight) is left as it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from orchestrator.domain.breaks import BreakRecord as BreakRecord
from orchestrator.domain.breaks import BreakStatus
from orchestrator.domain.model import AccountRef, AuditEvent, Break, OrderReport, Snapshot
from orchestrator.domain.reconciliation import (
    Pending,
    Reading,
    RecordedFill,
    RecordedOrder,
    RecordedTransfer,
)
from orchestrator.domain.timeutil import check_aware

# Break statuses as the store and the API spell them (the life itself: domain/breaks.py).
OPEN = BreakStatus.OPEN.value
ACKNOWLEDGED = BreakStatus.ACKNOWLEDGED.value
RESOLVED = BreakStatus.RESOLVED.value
ACTIVE = "active"  # a query filter: open or acknowledged


@dataclass(frozen=True, slots=True)
class BreakChanges:
    """What one run did to the stored breaks of one user."""

    opened: tuple[BreakRecord, ...] = ()
    still_open: tuple[BreakRecord, ...] = ()
    resolved: tuple[BreakRecord, ...] = ()
    unjudged: tuple[BreakRecord, ...] = ()
    reopened: tuple[BreakRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class RunRecord:
    """A stored reconciliation run. `report` is the JSON form of the run report."""

    id: str
    trigger: str
    started_at: datetime
    status: str
    break_count: int = 0
    finished_at: datetime | None = None
    report: Mapping[str, object] | None = None

    def __post_init__(self) -> None:
        check_aware(self, "started_at", "finished_at")


@dataclass(frozen=True, slots=True)
class LedgerWindow:
    """What to read of one account's journal: fills after `fills_after`, intents created at or
    after `orders_from` (plus every intent not yet terminal)."""

    fills_after: datetime
    orders_from: datetime

    def __post_init__(self) -> None:
        check_aware(self, "fills_after", "orders_from")


@dataclass(frozen=True, slots=True)
class AccountLedger:
    """One account's journal within its window, oldest first."""

    fills: tuple[RecordedFill, ...] = ()
    orders: tuple[RecordedOrder, ...] = ()


class OrderListSource(Protocol):
    """The broker's own list of orders (an OrderExecutor satisfies this)."""

    @property
    def name(self) -> str: ...

    async def orders_since(self, account: AccountRef, since: datetime) -> Sequence[OrderReport]:
        """Every order the broker holds for the account placed at or after `since`.

        Raises SourceUnavailable / AuthError like any read. Safe to repeat.
        """
        ...


class JournalReader(Protocol):
    """Our own records of what we did: fills, order intents, transfers. Read-only, repeatable."""

    async def fills_since(self, account_id: str, since: datetime) -> Sequence[RecordedFill]:
        """Fill increments of the account with filled_at after `since`, oldest first."""
        ...

    async def orders_since(self, account_id: str, since: datetime) -> Sequence[RecordedOrder]:
        """Intents of the account created at or after `since`, plus every one not yet terminal."""
        ...

    async def ledgers(self, windows: Mapping[str, LedgerWindow]) -> Mapping[str, AccountLedger]:
        """For each account id, what `fills_since` and `orders_since` return for its window, read
        together (one investor's accounts in a fire: two reads, not two per account)."""
        ...

    async def transfers_since(self, user_id: str, since: datetime) -> Sequence[RecordedTransfer]:
        """The user's transfers requested or completed after `since`, plus every unresolved one."""
        ...


class ReconciliationStore(Protocol):
    """Runs, snapshots and breaks. Each method is one transaction."""

    async def run_status(self, run_id: str) -> str | None:
        """The stored status of a run (running, clean, breaks, ...), None if there is none."""
        ...

    async def start_run(self, run_id: str, *, trigger: str, started_at: datetime) -> bool:
        """Record a run as running; False (nothing written) when `run_id` exists already."""
        ...

    async def accepted_snapshots(self, account_ids: Sequence[str]) -> Mapping[str, Snapshot]:
        """The newest accepted snapshot of each account that has one (the baseline)."""
        ...

    async def latest_snapshots(self, account_ids: Sequence[str]) -> Mapping[str, Snapshot]:
        """The newest successful snapshot of each account (accepted or not), for display."""
        ...

    async def save_readings(
        self, run_id: str, readings: Sequence[Reading], *, accepted: bool = False
    ) -> None:
        """Store this run's readings (failed ones too, with their error); with `accepted` the
        successful ones are the accounts' new baselines at once (as `accept` would make them)."""
        ...

    async def apply_breaks(
        self,
        run_id: str,
        *,
        user_id: str,
        account_ids: Sequence[str],
        found: Sequence[Break],
        unjudged: Sequence[Pending],
        now: datetime,
    ) -> BreakChanges:
        """Persist what `domain.breaks.decide_run` decides for the active breaks of `account_ids`
        (open, keep, reopen, clear, carry). Safe against a concurrent run or operator: an identity
        is never active twice and no change overwrites another."""
        ...

    async def accept(self, run_id: str, account_ids: Sequence[str]) -> int:
        """Mark the run's successful snapshots of these accounts accepted; returns how many."""
        ...

    async def finish_run(
        self,
        run_id: str,
        *,
        finished_at: datetime,
        status: str,
        break_count: int,
        report: Mapping[str, object],
    ) -> None:
        """Record the outcome and the report of a run."""
        ...


class BreakStore(Protocol):
    """One break at a time, for operator actions. Each method is one transaction."""

    async def get_break(self, break_id: int) -> BreakRecord | None:
        """The break with this id, in any status."""
        ...

    async def save_break(self, record: BreakRecord, *, audit: AuditEvent) -> bool:
        """Write `record` (an existing break changed by a domain transition) together with its
        audit event, only if the stored version is still `record.version - 1`; False when
        someone changed the break meanwhile (nothing written)."""
        ...


class ReconciliationQueries(Protocol):
    """Reads for the operator API and the CLI. Never calls a vendor."""

    async def runs(self, *, limit: int = 20, offset: int = 0) -> Sequence[RunRecord]:
        """Runs, newest first, without their report."""
        ...

    async def run(self, run_id: str) -> RunRecord | None:
        """One run with its report."""
        ...

    async def last_run(self, *, finished: bool = True) -> RunRecord | None:
        """The newest (finished) run with its report."""
        ...

    async def breaks(
        self,
        *,
        status: str | None = OPEN,
        user_id: str | None = None,
        kind: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Sequence[BreakRecord]:
        """Breaks, newest first seen first; status None means every status, "active" means open
        or acknowledged."""
        ...

    async def portfolio(self, user_id: str) -> Mapping[str, object] | None:
        """The user's consolidated portfolio from the newest finished run that has one."""
        ...
