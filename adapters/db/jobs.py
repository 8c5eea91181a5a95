"""JobRunStore on the database: the per-fire claim row (job_runs) and pause switches (job_state).

The claim is an INSERT ... ON CONFLICT DO NOTHING on the primary key (job_id, scheduled_for): the
database's uniqueness is the only coordination between replicas, and it behaves the same on
SQLite and PostgreSQL. (A plain INSERT losing with IntegrityError is handled the same way.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import exc, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col

from adapters.db.engine import Database
from adapters.db.tables import JobRunRow, JobStateRow
from orchestrator.domain.timeutil import to_utc
from orchestrator.ports.scheduling import JobRun, JobState, RunStatus

_ERROR_MAX = 4000


class DbJobRunStore:
    """JobRunStore port on `Database` (SQLite or PostgreSQL)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def _insert(self, table: Any) -> Any:
        if self._db.dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

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
        values = {
            "job_id": job_id,
            "scheduled_for": to_utc(scheduled_for),
            "replica": replica,
            "status": "running",
            "started_at": to_utc(started_at),
            "manual": manual,
            "requested_by": requested_by,
        }
        stmt = (
            self._insert(JobRunRow)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["job_id", "scheduled_for"])
        )
        try:
            async with self._db.session() as session:
                result = await session.execute(stmt)
                inserted = int(getattr(result, "rowcount", 0) or 0)
        except exc.IntegrityError:
            return False
        return inserted == 1

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
        async with self._db.session() as session:
            await session.execute(
                update(JobRunRow)
                .where(
                    col(JobRunRow.job_id) == job_id,
                    col(JobRunRow.scheduled_for) == to_utc(scheduled_for),
                )
                .values(
                    status=status,
                    finished_at=to_utc(finished_at),
                    duration_ms=duration_ms,
                    error=None if error is None else error[:_ERROR_MAX],
                )
            )

    async def runs(self, job_id: str | None, limit: int) -> Sequence[JobRun]:
        query = select(JobRunRow).order_by(col(JobRunRow.scheduled_for).desc()).limit(limit)
        if job_id is not None:
            query = query.where(col(JobRunRow.job_id) == job_id)
        async with self._db.session() as session:
            rows = (await session.execute(query)).scalars().all()
        return [_run(r) for r in rows]

    async def is_paused(self, job_id: str) -> bool:
        async with self._db.session() as session:
            row = await session.get(JobStateRow, job_id)
            return bool(row is not None and row.paused)

    async def states(self) -> Mapping[str, JobState]:
        async with self._db.session() as session:
            rows = (await session.execute(select(JobStateRow))).scalars().all()
        return {
            r.job_id: JobState(
                job_id=r.job_id, paused=r.paused, updated_at=r.updated_at, updated_by=r.updated_by
            )
            for r in rows
        }

    async def set_paused(self, job_id: str, paused: bool, *, by: str, at: datetime) -> None:
        values = {"paused": paused, "updated_at": to_utc(at), "updated_by": by[:100]}
        stmt = (
            self._insert(JobStateRow)
            .values(job_id=job_id, **values)
            .on_conflict_do_update(index_elements=["job_id"], set_=values)
        )
        async with self._db.session() as session:
            await session.execute(stmt)


def _run(row: JobRunRow) -> JobRun:
    status: RunStatus
    if row.status == "succeeded":
        status = "succeeded"
    elif row.status == "failed":
        status = "failed"
    else:
        status = "running"
    return JobRun(
        job_id=row.job_id,
        scheduled_for=row.scheduled_for,
        replica=row.replica,
        status=status,
        started_at=row.started_at,
        finished_at=row.finished_at,
        duration_ms=row.duration_ms,
        error=row.error,
        manual=row.manual,
        requested_by=row.requested_by,
    )
