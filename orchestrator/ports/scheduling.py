"""Persistence the scheduler needs: the per-fire claim (which doubles as run history) and the
operator's pause switch, both shared by every replica through the database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from orchestrator.domain.timeutil import check_aware
from orchestrator.logging import mask_at_rest

JobRunStatus = Literal["running", "succeeded", "failed"]
ItemStatus = Literal["succeeded", "failed"]


@dataclass(frozen=True, slots=True)
class JobRun:
    """One claimed fire of a job: the claim key is (job_id, scheduled_for).

    Its fan-out is counts only (`total`/`done`/`failed`): the per-investor outcomes of a fire can
    be 10,000 rows and are read a page at a time (`JobRunStore.items`), never with the run.
    """

    job_id: str
    scheduled_for: datetime
    replica: str
    status: JobRunStatus
    started_at: datetime
    finished_at: datetime | None = None
    duration_ms: int | None = None
    error: str | None = None
    manual: bool = False
    requested_by: str | None = None
    # Fan-out progress (None/0 for a fire that ran as one piece) and the engine that ran it.
    total: int | None = None
    done: int = 0
    failed: int = 0
    engine: str = "in-process"
    # Filled by the scheduler when read: did the fire run past its next fire time?
    overran: bool = False

    def __post_init__(self) -> None:
        check_aware(self, "scheduled_for", "started_at", "finished_at")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (datetimes ISO 8601 with offset)."""
        return {
            "job_id": self.job_id,
            "scheduled_for": self.scheduled_for.isoformat(),
            "replica": self.replica,
            "status": self.status,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "duration_ms": self.duration_ms,
            "error": self.error,
            "manual": self.manual,
            "requested_by": self.requested_by,
            "engine": self.engine,
            "progress": None
            if self.total is None
            else {"total": self.total, "done": self.done, "failed": self.failed},
            "overran": self.overran,
        }

    def matching(self, status: ItemStatus | None = None) -> int:
        """How many recorded outcomes have `status` (all recorded ones when None): the counters
        move with each item insert, exactly once, so they are the item counts."""
        if status == "succeeded":
            return self.done
        if status == "failed":
            return self.failed
        return self.done + self.failed


@dataclass(frozen=True, slots=True)
class ItemOutcome:
    """How one investor's task of a fanned-out fire ended."""

    investor: str
    kind: str
    status: ItemStatus
    finished_at: datetime
    duration_ms: int = 0
    attempts: int = 1
    worker: str = ""
    detail: str | None = None

    def __post_init__(self) -> None:
        check_aware(self, "finished_at")
        # The detail quotes vendor messages and exceptions (an account number, a token in a
        # URL): masked here, so that it is neither stored nor shown whole.
        if self.detail is not None:
            object.__setattr__(self, "detail", mask_at_rest(self.detail))

    def as_dict(self) -> dict[str, Any]:
        return {
            "investor": self.investor,
            "kind": self.kind,
            "status": self.status,
            "finished_at": self.finished_at.isoformat(),
            "duration_ms": self.duration_ms,
            "attempts": self.attempts,
            "worker": self.worker,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class JobState:
    """The operator's override of one job (absent row = not paused)."""

    job_id: str
    paused: bool
    updated_at: datetime
    updated_by: str

    def __post_init__(self) -> None:
        check_aware(self, "updated_at")


class JobRunStore(Protocol):
    """The claim table and pause switches. Every replica talks to the same store."""

    async def claim(
        self,
        job_id: str,
        scheduled_for: datetime,
        replica: str,
        *,
        started_at: datetime,
        manual: bool = False,
        requested_by: str | None = None,
    ) -> bool:
        """Insert the run (status running) under the unique key (job_id, scheduled_for).

        True: this caller owns the fire and must run it. False: the key exists (another replica,
        or an earlier attempt, owns it), so the caller must not run it. Exactly one of any number
        of concurrent callers gets True. Infrastructure failures raise.
        """
        ...

    async def finish(
        self,
        job_id: str,
        scheduled_for: datetime,
        *,
        status: JobRunStatus,
        finished_at: datetime,
        duration_ms: int,
        error: str | None = None,
    ) -> None:
        """Record how a claimed run ended. Safe to repeat."""
        ...

    async def runs(self, job_id: str | None, limit: int) -> Sequence[JobRun]:
        """Newest first by scheduled time; every job when `job_id` is None. Counts only: one
        query on the runs, none on their per-investor outcomes."""
        ...

    async def latest(self) -> Mapping[str, JobRun]:
        """The newest run of every job that has run, by job id (one read for the jobs list)."""
        ...

    async def run(self, job_id: str, scheduled_for: datetime) -> JobRun | None:
        """One run with its counts (no per-investor outcomes), or None."""
        ...

    async def items(
        self,
        job_id: str,
        scheduled_for: datetime,
        *,
        limit: int,
        offset: int = 0,
        status: ItemStatus | None = None,
    ) -> Sequence[ItemOutcome]:
        """One page of a run's recorded per-investor outcomes, ordered by investor (only those
        with `status` when given); the store pages (no more than `limit` rows are read)."""
        ...

    async def set_total(
        self, job_id: str, scheduled_for: datetime, total: int, *, engine: str
    ) -> None:
        """Mark the run as fanned out over `total` investor tasks (before any is started).
        With total 0 the run finishes at once (succeeded)."""
        ...

    async def record_item(self, job_id: str, scheduled_for: datetime, outcome: ItemOutcome) -> bool:
        """Record one investor's outcome exactly once (False if already recorded) and finish the
        run when every investor is accounted for (failed if any failed)."""
        ...

    async def item(self, job_id: str, scheduled_for: datetime, investor: str) -> ItemOutcome | None:
        """The recorded outcome of one investor in one fire, if any."""
        ...

    async def is_paused(self, job_id: str) -> bool: ...

    async def states(self) -> Mapping[str, JobState]:
        """Every stored override, by job id."""
        ...

    async def set_paused(self, job_id: str, paused: bool, *, by: str, at: datetime) -> None:
        """Persist the switch (upsert). Safe to repeat."""
        ...
