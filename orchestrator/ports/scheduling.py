"""Persistence the scheduler needs: the per-fire claim (which doubles as run history) and the
operator's pause switch, both shared by every replica through the database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from orchestrator.domain.timeutil import check_aware

RunStatus = Literal["running", "succeeded", "failed"]


@dataclass(frozen=True, slots=True)
class JobRun:
    """One claimed fire of a job: the claim key is (job_id, scheduled_for)."""

    job_id: str
    scheduled_for: datetime
    replica: str
    status: RunStatus
    started_at: datetime
    finished_at: datetime | None = None
    duration_ms: int | None = None
    error: str | None = None
    manual: bool = False
    requested_by: str | None = None

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
        status: RunStatus,
        finished_at: datetime,
        duration_ms: int,
        error: str | None = None,
    ) -> None:
        """Record how a claimed run ended. Safe to repeat."""
        ...

    async def runs(self, job_id: str | None, limit: int) -> Sequence[JobRun]:
        """Newest first by scheduled time; every job when `job_id` is None."""
        ...

    async def is_paused(self, job_id: str) -> bool: ...

    async def states(self) -> Mapping[str, JobState]:
        """Every stored override, by job id."""
        ...

    async def set_paused(self, job_id: str, paused: bool, *, by: str, at: datetime) -> None:
        """Persist the switch (upsert). Safe to repeat."""
        ...
