"""Operator controls the API and CLI drive: jobs, kill switch, workflow approvals.

Every mutation takes the acting principal (`by`) so the implementation can audit it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from orchestrator.ports.scheduling import ItemStatus


class JobControl(Protocol):
    async def jobs(self) -> Sequence[Mapping[str, Any]]:
        """Configured jobs with next fire time and paused flag (shared by every replica)."""
        ...

    async def runs(self, job_id: str | None, limit: int) -> Sequence[Mapping[str, Any]]:
        """Run history, newest first: each run with its counts (`progress`), no outcomes."""
        ...

    async def run(
        self,
        job_id: str,
        scheduled_for: datetime,
        *,
        limit: int,
        offset: int = 0,
        status: ItemStatus | None = None,
    ) -> Mapping[str, Any] | None:
        """One run with its counts and one page of its per-investor outcomes (`investors`, by
        investor, only `status` ones when given; `page`: limit, offset, status, `matching` =
        how many outcomes the filter matches, `next_offset` or None). None: no such run."""
        ...

    async def trigger(self, job_id: str, by: str) -> Mapping[str, Any]:
        """Run the job now (claimed like a scheduled fire). KeyError for an unknown job."""
        ...

    async def pause(self, job_id: str, by: str) -> None: ...

    async def resume(self, job_id: str, by: str) -> None: ...

    @property
    def running(self) -> bool: ...


class KillSwitchControl(Protocol):
    async def state(self) -> Mapping[str, Any]:
        """{"on": bool, "reason": str, "updated_at": ..., "updated_by": ...}"""
        ...

    async def set(self, on: bool, reason: str, by: str) -> Mapping[str, Any]: ...


class WorkflowControl(Protocol):
    def workflows(self) -> Sequence[Mapping[str, Any]]: ...

    async def runs(self, workflow: str | None, limit: int) -> Sequence[Mapping[str, Any]]: ...

    async def approve(self, run_id: str, by: str) -> Mapping[str, Any]:
        """Execute an approved plan. KeyError unknown run; ValueError not awaiting approval."""
        ...

    async def reject(self, run_id: str, by: str, reason: str = "") -> Mapping[str, Any]: ...

    async def start(self, name: str, by: str, *, dry_run: bool = False) -> Mapping[str, Any]:
        """Run a workflow now. NotFound for an unknown name."""
        ...


class ReconcileNow(Protocol):
    """A reconciliation started in the background by an operator (console and API)."""

    def start(self, actor: str) -> str:
        """Start a reconciliation in the background; returns a task id for progress()."""
        ...

    def progress(self, task_id: str) -> Mapping[str, Any] | None:
        """{"done": users finished, "total": users, "run_id": ..., "status": ...} or None."""
        ...
