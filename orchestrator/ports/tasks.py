"""Per-investor units of work and the engine that runs them.

A scheduled fire fans out one `InvestorTask` per investor. Where the tasks run is the engine's
business: in-process on the embedded default (SQLite), on a task engine's workers on PostgreSQL.
Either way the same `InvestorWork` functions run and each outcome is recorded once per (fire,
investor) in the run history (`JobRunStore.record_item`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from orchestrator.domain.timeutil import check_aware

TaskKind = Literal["reconcile", "settle", "workflow", "tokens"]
TASK_KINDS: tuple[TaskKind, ...] = ("reconcile", "settle", "workflow", "tokens")


@dataclass(frozen=True, slots=True)
class InvestorTask:
    """One investor's share of one fire. `arg`: the workflow schedule for kind "workflow".
    `attempt` counts from 0; a task retried after a failure or a dead worker gets a higher one."""

    kind: TaskKind
    investor: str
    job_id: str
    scheduled_for: datetime
    arg: str | None = None
    attempt: int = 0

    def __post_init__(self) -> None:
        check_aware(self, "scheduled_for")

    @property
    def fire_key(self) -> str:
        return f"{self.job_id}@{self.scheduled_for.isoformat()}"


@dataclass(frozen=True, slots=True)
class FannedOut:
    """What a fire's action returns when it handed its work to investor tasks: the run is then
    finished by the last of them, not by the action."""

    total: int


class InvestorWork(Protocol):
    """The per-investor functions; each must be safe to run again for the same task (a worker
    may die half-way): no order sent twice, no fill counted twice."""

    async def run(self, task: InvestorTask) -> str | None:
        """Do the work; return a short outcome text (e.g. the reconciliation status). Raise on
        failure (a retryable SourceError may be retried by the engine)."""
        ...


class TaskEngine(Protocol):
    """Runs investor tasks: now and here (in-process) or queued for workers."""

    name: str

    async def submit(self, tasks: Sequence[InvestorTask]) -> None:
        """Hand over every task of a fire. In-process engines return once all have ended;
        queueing engines once all are durably queued."""
        ...


class FireEngine(Protocol):
    """The engine's own once-per-fire guarantee: every replica offers each fire, one wins."""

    name: str

    async def defer_fire(
        self,
        job_id: str,
        scheduled_for: datetime,
        *,
        manual: bool = False,
        requested_by: str | None = None,
    ) -> bool:
        """Queue the fire for a worker; False when another replica already queued it."""
        ...


class ActiveInvestors(Protocol):
    """Who the service works for: the active investor records."""

    async def active_ids(self) -> Sequence[str]: ...
