"""The life of a reconciliation break, as pure functions over immutable records.

    found by a run ──open──> OPEN ──acknowledge──> ACKNOWLEDGED
                              │ ▲                       │
           not found, judged  │ │ found again           │ resolve_manually / not found, judged
                              ▼ │ (reopen: only after   ▼
                           RESOLVED  a manual resolve) RESOLVED

- open: a run found a break whose identity has no active record (nor a manually resolved one).
- keep: a run found it again: detail, amounts and "last seen" follow; the status stays (an
  acknowledged break stays acknowledged and is not alerted again).
- carry: a run could not judge it (its source failed, or it is in flight): left as it is.
- clear: a run judged its account and no longer found it: RESOLVED with resolution "cleared".
- acknowledge: an operator says "I know" with a comment; it stays active until it clears.
- resolve_manually: an operator says "fixed" with a reason: RESOLVED with resolution "manual".
- reopen: a manually resolved break that a later run still finds was not fixed: the same record
  becomes OPEN again (its history kept, alerted again). A break that *cleared* and comes back
  later is a new occurrence: a new record.

The store persists what these functions return and nothing else; it decides nothing. Every
change bumps `version`, which the store uses as a compare-and-set so a run and an operator acting
at the same moment cannot overwrite each other.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from orchestrator.domain.errors import InvalidRequest, StateConflict
from orchestrator.domain.model import Break
from orchestrator.domain.money import check_money
from orchestrator.domain.reconciliation import Pending
from orchestrator.domain.timeutil import check_aware

MAX_NOTE_LENGTH = 1000
MAX_ACTOR_LENGTH = 100


class BreakStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"

    @property
    def active(self) -> bool:
        """Still needs attention: a run keeps judging it, and one identity has one active record."""
        return self is not BreakStatus.RESOLVED


ACTIVE_STATUSES = tuple(s for s in BreakStatus if s.active)


class Resolution(StrEnum):
    CLEARED = "cleared"  # a run judged the account and no longer found the break
    MANUAL = "manual"  # an operator resolved it, with a reason


@dataclass(frozen=True, slots=True)
class BreakRecord:
    """A break and its life. `id` is the store's (None until first stored); `version` counts
    changes. `note` is the operator's latest acknowledgement comment or resolution reason."""

    id: int | None
    user_id: str
    kind: str
    account_id: str
    key: str
    detail: str
    status: BreakStatus
    first_run_id: str
    last_run_id: str
    first_seen_at: datetime
    last_seen_at: datetime
    expected: Decimal | None = None
    observed: Decimal | None = None
    resolved_at: datetime | None = None
    resolution: Resolution | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_by: str | None = None
    note: str | None = None
    reopened: int = 0
    version: int = 0

    def __post_init__(self) -> None:
        check_money(self, "expected", "observed")
        check_aware(self, "first_seen_at", "last_seen_at", "resolved_at", "acknowledged_at")
        if (self.status is BreakStatus.RESOLVED) != (self.resolution is not None):
            raise ValueError("a break has a resolution exactly when it is resolved")

    @property
    def identity(self) -> str:
        return f"{self.kind}:{self.account_id}:{self.key}"

    @property
    def active(self) -> bool:
        return self.status.active


def _changed(record: BreakRecord, **changes: object) -> BreakRecord:
    return dataclasses.replace(record, version=record.version + 1, **changes)  # type: ignore[arg-type]


def open_break(brk: Break, *, user_id: str, run_id: str, now: datetime) -> BreakRecord:
    return BreakRecord(
        id=None,
        user_id=user_id,
        kind=brk.kind.value,
        account_id=brk.account_id,
        key=brk.key,
        detail=brk.detail,
        status=BreakStatus.OPEN,
        first_run_id=run_id,
        last_run_id=run_id,
        first_seen_at=now,
        last_seen_at=now,
        expected=brk.expected,
        observed=brk.observed,
        version=1,
    )


def keep(record: BreakRecord, brk: Break, *, run_id: str, now: datetime) -> BreakRecord:
    """Seen again by a run: the latest figures, the status unchanged."""
    _require(record, brk)
    if not record.active:
        raise StateConflict(f"break {record.id} is resolved; a run reopens it, never keeps it")
    return _changed(
        record,
        detail=brk.detail,
        expected=brk.expected,
        observed=brk.observed,
        last_run_id=run_id,
        last_seen_at=now,
    )


def clear(record: BreakRecord, *, now: datetime) -> BreakRecord:
    """A run judged the account and the break is gone (`last_run_id` stays the last run that
    saw it)."""
    if not record.active:
        raise StateConflict(f"break {record.id} is already resolved")
    return _changed(
        record,
        status=BreakStatus.RESOLVED,
        resolution=Resolution.CLEARED,
        resolved_at=now,
        resolved_by=None,
    )


def reopen(record: BreakRecord, brk: Break, *, run_id: str, now: datetime) -> BreakRecord:
    """A manually resolved break that a run still finds: it was not fixed."""
    _require(record, brk)
    if record.resolution is not Resolution.MANUAL:
        raise StateConflict(f"break {record.id}: only a manually resolved break reopens")
    return _changed(
        record,
        status=BreakStatus.OPEN,
        resolution=None,
        resolved_at=None,
        resolved_by=None,
        acknowledged_at=None,
        acknowledged_by=None,
        detail=brk.detail,
        expected=brk.expected,
        observed=brk.observed,
        last_run_id=run_id,
        last_seen_at=now,
        reopened=record.reopened + 1,
    )


def acknowledge(record: BreakRecord, *, comment: str, actor: str, now: datetime) -> BreakRecord:
    """An operator knows about the break. Acknowledging again replaces the comment."""
    comment = _note("comment", comment)
    actor = _actor(actor)
    if not record.active:
        raise StateConflict(f"break {record.id} is resolved; there is nothing to acknowledge")
    return _changed(
        record,
        status=BreakStatus.ACKNOWLEDGED,
        acknowledged_at=now,
        acknowledged_by=actor,
        note=comment,
    )


def resolve_manually(record: BreakRecord, *, reason: str, actor: str, now: datetime) -> BreakRecord:
    """An operator fixed the cause by hand. If a later run still finds it, it reopens."""
    reason = _note("reason", reason)
    actor = _actor(actor)
    if not record.active:
        raise StateConflict(f"break {record.id} is already resolved")
    return _changed(
        record,
        status=BreakStatus.RESOLVED,
        resolution=Resolution.MANUAL,
        resolved_at=now,
        resolved_by=actor,
        note=reason,
    )


@dataclass(frozen=True, slots=True)
class BreakDecision:
    """What one run does to one user's breaks. `unjudged`: active records left as they were."""

    opened: tuple[BreakRecord, ...] = ()
    kept: tuple[BreakRecord, ...] = ()
    reopened: tuple[BreakRecord, ...] = ()
    cleared: tuple[BreakRecord, ...] = ()
    unjudged: tuple[BreakRecord, ...] = ()

    @property
    def writes(self) -> tuple[BreakRecord, ...]:
        """Records the store must write (new ones have id None)."""
        return self.opened + self.kept + self.reopened + self.cleared


def decide_run(
    active: Sequence[BreakRecord],
    found: Sequence[Break],
    unjudged: Sequence[Pending],
    *,
    user_id: str,
    run_id: str,
    now: datetime,
    manually_resolved: Mapping[str, BreakRecord] | None = None,
) -> BreakDecision:
    """Apply one run's findings to the user's active records of the judged accounts.

    `active`: the active records of the accounts this run covered. `manually_resolved`: for found
    identities without an active record, the newest record if it was resolved by hand.
    """
    check_aware_now(now)
    by_identity = {r.identity: r for r in active}
    manual = manually_resolved or {}
    opened: list[BreakRecord] = []
    kept: list[BreakRecord] = []
    reopened: list[BreakRecord] = []
    seen: set[str] = set()
    for brk in found:
        if brk.identity in seen:
            continue
        seen.add(brk.identity)
        current = by_identity.get(brk.identity)
        if current is not None:
            kept.append(keep(current, brk, run_id=run_id, now=now))
            continue
        previous = manual.get(brk.identity)
        if previous is not None and previous.resolution is Resolution.MANUAL:
            reopened.append(reopen(previous, brk, run_id=run_id, now=now))
        else:
            opened.append(open_break(brk, user_id=user_id, run_id=run_id, now=now))
    cleared: list[BreakRecord] = []
    carried: list[BreakRecord] = []
    for identity, record in by_identity.items():
        if identity in seen:
            continue
        if any(u.covers(record.kind, record.account_id, record.key) for u in unjudged):
            carried.append(record)
        else:
            cleared.append(clear(record, now=now))
    return BreakDecision(
        opened=tuple(opened),
        kept=tuple(kept),
        reopened=tuple(reopened),
        cleared=tuple(cleared),
        unjudged=tuple(carried),
    )


def check_aware_now(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")


def _require(record: BreakRecord, brk: Break) -> None:
    if record.identity != brk.identity:
        raise ValueError(f"break {brk.identity} does not belong to record {record.identity}")


def _note(what: str, text: str) -> str:
    text = text.strip()
    if not text:
        raise InvalidRequest(f"{what}: must not be empty")
    if len(text) > MAX_NOTE_LENGTH:
        raise InvalidRequest(f"{what}: at most {MAX_NOTE_LENGTH} characters")
    return text


def _actor(actor: str) -> str:
    actor = actor.strip()
    if not actor or len(actor) > MAX_ACTOR_LENGTH:
        raise InvalidRequest(f"actor: 1 to {MAX_ACTOR_LENGTH} characters")
    return actor
