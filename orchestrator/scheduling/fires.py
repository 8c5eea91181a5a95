"""What a job receives (`JobFire`), what the operator sees (`JobInfo`), claim keys."""

from __future__ import annotations

import os
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from orchestrator.domain.timeutil import to_utc
from orchestrator.ports.scheduling import JobRun


@dataclass(frozen=True, slots=True)
class JobFire:
    """Handed to the action: which fire this is. `key` is stable across replicas and retries."""

    job_id: str
    action: str
    scheduled_for: datetime
    replica: str
    manual: bool = False
    requested_by: str | None = None

    @property
    def key(self) -> str:
        return f"{self.job_id}@{self.scheduled_for.isoformat()}"


Action = Callable[[JobFire], Awaitable[object]]
"""An async callable run for a fire. Raising marks the run failed (error text recorded)."""


@dataclass(frozen=True, slots=True)
class JobInfo:
    id: str
    action: str
    trigger: str
    trading_days_only: bool
    during_session_only: bool
    paused: bool
    next_fire_time: datetime | None  # UTC; None when paused or the trigger is exhausted
    misfire_grace_seconds: int | None
    coalesce: bool
    max_instances: int
    paused_by: str | None = None
    paused_at: datetime | None = None
    last_run: JobRun | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "action": self.action,
            "trigger": self.trigger,
            "trading_days_only": self.trading_days_only,
            "during_session_only": self.during_session_only,
            "paused": self.paused,
            "next_fire_time": _iso(self.next_fire_time),
            "misfire_grace_seconds": self.misfire_grace_seconds,
            "coalesce": self.coalesce,
            "max_instances": self.max_instances,
            "paused_by": self.paused_by,
            "paused_at": _iso(self.paused_at),
            "last_run": self.last_run.as_dict() if self.last_run else None,
        }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def resolve_action(actions: Mapping[str, Action], name: str) -> Action | None:
    """`name` itself, else for "kind:arg" the wildcard "kind:*" (it reads `JobFire.action`)."""
    if name in actions:
        return actions[name]
    kind, sep, _ = name.partition(":")
    if sep:
        return actions.get(f"{kind}:*")
    return None


def default_replica_id() -> str:
    """host:pid, unique among live replicas; recorded on each run it claims."""
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


def nominal(run_time: datetime) -> datetime:
    """The claim key of a scheduled fire: the trigger time in UTC, rounded to whole seconds.

    Trigger times are already whole seconds; rounding only absorbs float noise from interval
    arithmetic so that every replica produces exactly the same key.
    """
    utc = to_utc(run_time)
    return (utc + timedelta(microseconds=500_000)).replace(microsecond=0)
