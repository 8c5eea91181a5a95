"""JobRunStore on the database: the per-fire claim row (job_runs) and pause switches (job_state).

The claim is an INSERT ... ON CONFLICT DO NOTHING on the primary key (job_id, scheduled_for): the
database's uniqueness is the only coordination between replicas, and it behaves the same on
SQLite and PostgreSQL. (A plain INSERT losing with IntegrityError is handled the same way.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import exc, exists, func, select, update
from sqlmodel import col

from adapters.db.engine import Database
from adapters.db.tables import JobRunItemRow, JobRunRow, JobStateRow
from orchestrator.domain.timeutil import to_utc
from orchestrator.ports.scheduling import ItemOutcome, ItemStatus, JobRun, JobRunStatus, JobState

_ERROR_MAX = 4000


class DbJobRunStore:
    """JobRunStore port on `Database` (SQLite or PostgreSQL)."""

    def __init__(self, db: Database) -> None:
        self._db = db

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
            self._db.insert(JobRunRow)
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
        status: JobRunStatus,
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

    async def latest(self) -> Mapping[str, JobRun]:
        newest = (
            select(col(JobRunRow.job_id), func.max(col(JobRunRow.scheduled_for)).label("at"))
            .group_by(col(JobRunRow.job_id))
            .subquery()
        )
        query = select(JobRunRow).join(
            newest,
            (col(JobRunRow.job_id) == newest.c.job_id)
            & (col(JobRunRow.scheduled_for) == newest.c.at),
        )
        async with self._db.session() as session:
            rows = (await session.execute(query)).scalars().all()
        return {r.job_id: _run(r) for r in rows}

    async def run(self, job_id: str, scheduled_for: datetime) -> JobRun | None:
        async with self._db.autocommit() as session:
            row = await session.get(JobRunRow, (job_id, to_utc(scheduled_for)))
            return None if row is None else _run(row)

    async def items(
        self,
        job_id: str,
        scheduled_for: datetime,
        *,
        limit: int,
        offset: int = 0,
        status: ItemStatus | None = None,
    ) -> Sequence[ItemOutcome]:
        # The primary key (job_id, scheduled_for, investor) serves the range and the order; the
        # page is cut by the database (LIMIT/OFFSET), never by reading the fire's every item.
        query = (
            select(JobRunItemRow)
            .where(
                col(JobRunItemRow.job_id) == job_id,
                col(JobRunItemRow.scheduled_for) == to_utc(scheduled_for),
            )
            .order_by(col(JobRunItemRow.investor))
            .limit(limit)
            .offset(offset)
        )
        if status is not None:
            query = query.where(col(JobRunItemRow.status) == status)
        async with self._db.autocommit() as session:
            rows = (await session.execute(query)).scalars().all()
            return [_item(r) for r in rows]

    async def set_total(
        self, job_id: str, scheduled_for: datetime, total: int, *, engine: str
    ) -> None:
        key = to_utc(scheduled_for)
        async with self._db.session() as session:
            await session.execute(
                update(JobRunRow)
                .where(col(JobRunRow.job_id) == job_id, col(JobRunRow.scheduled_for) == key)
                .values(total=total, engine=engine)
            )
            if total == 0:
                await self._complete(session, job_id, key)

    async def record_item(self, job_id: str, scheduled_for: datetime, outcome: ItemOutcome) -> bool:
        key = to_utc(scheduled_for)
        insert = (
            self._db.insert(JobRunItemRow)
            .values(
                job_id=job_id,
                scheduled_for=key,
                investor=outcome.investor,
                kind=outcome.kind,
                status=outcome.status,
                detail=None if outcome.detail is None else outcome.detail[:500],
                attempts=outcome.attempts,
                worker=outcome.worker[:100],
                finished_at=to_utc(outcome.finished_at),
                duration_ms=outcome.duration_ms,
            )
            .on_conflict_do_nothing(index_elements=["job_id", "scheduled_for", "investor"])
        )
        column = JobRunRow.failed if outcome.status == "failed" else JobRunRow.done
        bump = {column.name: col(column) + 1}  # type: ignore[attr-defined]
        of_run = (col(JobRunRow.job_id) == job_id, col(JobRunRow.scheduled_for) == key)
        if self._db.dialect == "postgresql":
            return await self._record_item_pg(insert, bump, of_run, job_id, key, outcome)
        async with self._db.session() as session:
            result = await session.execute(insert)
            if int(getattr(result, "rowcount", 0) or 0) != 1:
                return False
            # The counter moves in the same transaction as the item insert: exactly once.
            await session.execute(update(JobRunRow).where(*of_run).values(bump))
            await self._complete(session, job_id, key, at=outcome.finished_at)
        return True

    async def _record_item_pg(
        self,
        insert: Any,
        bump: dict[str, Any],
        of_run: tuple[Any, ...],
        job_id: str,
        key: datetime,
        outcome: ItemOutcome,
    ) -> bool:
        # One statement, committed on its own: the item insert and the counter move together
        # (exactly once: no insert, no move), and the fire's row is locked only while the
        # server runs it. A transaction around it would hold that one hot row locked across
        # a round trip and the worker's event loop, serialising every worker on it.
        inserted = insert.returning(col(JobRunItemRow.investor)).cte("inserted")
        stmt = (
            update(JobRunRow)
            .where(*of_run, exists(select(inserted.c.investor)))
            .values(bump)
            .returning(
                col(JobRunRow.done),
                col(JobRunRow.failed),
                col(JobRunRow.total),
                col(JobRunRow.status),
            )
        )
        async with self._db.autocommit() as session:
            connection = await session.connection()  # Core: the ORM would not return the rows
            row = (await connection.execute(stmt)).first()
            if row is None:
                return False
            done, failed, total, status = row
            if status == "running" and total is not None and done + failed >= total:
                await self._complete(session, job_id, key, at=outcome.finished_at)
        return True

    async def _complete(
        self, session: Any, job_id: str, key: datetime, *, at: datetime | None = None
    ) -> None:
        row = await session.get(JobRunRow, (job_id, key), populate_existing=True)
        if row is None or row.status != "running" or row.total is None:
            return
        if row.done + row.failed < row.total:
            return
        finished = to_utc(at) if at is not None else to_utc(row.started_at)
        finished = max(finished, to_utc(row.started_at))
        await session.execute(
            update(JobRunRow)
            .where(
                col(JobRunRow.job_id) == job_id,
                col(JobRunRow.scheduled_for) == key,
                col(JobRunRow.status) == "running",
            )
            .values(
                status="failed" if row.failed else "succeeded",
                finished_at=finished,
                duration_ms=max(
                    0, round((finished - to_utc(row.started_at)).total_seconds() * 1000)
                ),
                error=f"{row.failed} of {row.total} investors failed" if row.failed else None,
            )
        )

    async def item(self, job_id: str, scheduled_for: datetime, investor: str) -> ItemOutcome | None:
        async with self._db.autocommit() as session:
            row = await session.get(JobRunItemRow, (job_id, to_utc(scheduled_for), investor))
            return None if row is None else _item(row)

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
            self._db.insert(JobStateRow)
            .values(job_id=job_id, **values)
            .on_conflict_do_update(index_elements=["job_id"], set_=values)
        )
        async with self._db.session() as session:
            await session.execute(stmt)


def _item(row: JobRunItemRow) -> ItemOutcome:
    status: ItemStatus = "failed" if row.status == "failed" else "succeeded"
    return ItemOutcome(
        investor=row.investor,
        kind=row.kind,
        status=status,
        finished_at=row.finished_at,
        duration_ms=row.duration_ms,
        attempts=row.attempts,
        worker=row.worker,
        detail=row.detail,
    )


def _run(row: JobRunRow) -> JobRun:
    status: JobRunStatus
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
        total=row.total,
        done=row.done,
        failed=row.failed,
        engine=row.engine,
    )
