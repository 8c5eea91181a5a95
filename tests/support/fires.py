"""A fanned-out fire as the stores hold it, for tests of the run history and its pages."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from adapters.db.jobs import DbJobRunStore
from orchestrator.ports.scheduling import ItemOutcome


async def record_fire(
    store: DbJobRunStore,
    job_id: str,
    scheduled_for: datetime,
    outcomes: Iterable[ItemOutcome],
    *,
    replica: str = "replica-a",
    engine: str = "in-process",
) -> None:
    """Claim the fire, fan it out to as many tasks as `outcomes`, record each in the order
    given (the last one finishes the run)."""
    recorded = list(outcomes)
    assert await store.claim(job_id, scheduled_for, replica, started_at=scheduled_for)
    await store.set_total(job_id, scheduled_for, len(recorded), engine=engine)
    for outcome in recorded:
        await store.record_item(job_id, scheduled_for, outcome)
