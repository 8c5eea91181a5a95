"""OperatorQueries on the database: the operator API's read side."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlmodel import SQLModel, col

from adapters.db.engine import Database
from adapters.db.tables import (
    AuditEventRow,
    BreakRow,
    OrderIntentRow,
    ReconciliationRunRow,
    StoredSecretRow,
)


def plain(value: Any) -> Any:
    """JSON-ready form: Decimal as string (exact), datetimes ISO 8601 with offset."""
    if isinstance(value, SQLModel):
        return {k: plain(getattr(value, k)) for k in type(value).model_fields}
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


class DbOperatorQueries:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def reconciliations(self, limit: int, offset: int) -> Sequence[Mapping[str, Any]]:
        async with self._db.session() as s:
            rows = await s.execute(
                select(ReconciliationRunRow)
                .order_by(col(ReconciliationRunRow.started_at).desc())
                .limit(limit)
                .offset(offset)
            )
            return [_run_summary(r) for r in rows.scalars()]

    async def reconciliation(self, run_id: str) -> Mapping[str, Any] | None:
        async with self._db.session() as s:
            run = await s.get(ReconciliationRunRow, run_id)
            if run is None:
                return None
            breaks = await s.execute(
                select(BreakRow)
                .where(
                    (col(BreakRow.first_run_id) == run_id) | (col(BreakRow.last_run_id) == run_id)
                )
                .order_by(col(BreakRow.id))
            )
            out: dict[str, Any] = plain(run)
            out["breaks"] = [plain(b) for b in breaks.scalars()]
            return out

    async def breaks(
        self, status: str | None, limit: int, offset: int
    ) -> Sequence[Mapping[str, Any]]:
        query = select(BreakRow).order_by(col(BreakRow.last_seen_at).desc())
        if status is not None:
            query = query.where(col(BreakRow.status) == status)
        async with self._db.session() as s:
            rows = await s.execute(query.limit(limit).offset(offset))
            return [plain(b) for b in rows.scalars()]

    async def orders(
        self, state: str | None, limit: int, offset: int
    ) -> Sequence[Mapping[str, Any]]:
        query = select(OrderIntentRow).order_by(col(OrderIntentRow.created_at).desc())
        if state is not None:
            query = query.where(col(OrderIntentRow.state) == state)
        async with self._db.session() as s:
            rows = await s.execute(query.limit(limit).offset(offset))
            return [plain(o) for o in rows.scalars()]

    async def audit(self, limit: int, offset: int) -> Sequence[Mapping[str, Any]]:
        async with self._db.session() as s:
            rows = await s.execute(
                select(AuditEventRow)
                .order_by(col(AuditEventRow.seq).desc())
                .limit(limit)
                .offset(offset)
            )
            return [plain(a) for a in rows.scalars()]

    async def latest_portfolio(self) -> Mapping[str, Any] | None:
        async with self._db.session() as s:
            rows = await s.execute(
                select(ReconciliationRunRow)
                .where(col(ReconciliationRunRow.finished_at).is_not(None))
                .order_by(col(ReconciliationRunRow.started_at).desc())
                .limit(1)
            )
            run = rows.scalars().first()
        if run is None or not run.report or "portfolio" not in run.report:
            return None
        portfolio: dict[str, Any] = dict(run.report["portfolio"])
        portfolio["run_id"] = run.id
        portfolio["as_of"] = plain(run.finished_at)
        return portfolio

    async def open_break_count(self) -> int:
        async with self._db.session() as s:
            count = await s.execute(
                select(func.count()).select_from(BreakRow).where(col(BreakRow.status) == "open")
            )
            return int(count.scalar_one())

    async def secret_expiries(self) -> Mapping[str, datetime | None]:
        async with self._db.session() as s:
            rows = await s.execute(
                select(col(StoredSecretRow.key), col(StoredSecretRow.expires_at))
            )
            return {key: expires for key, expires in rows.all()}  # noqa: C416 - Row -> pair


def _run_summary(run: ReconciliationRunRow) -> dict[str, Any]:
    out: dict[str, Any] = plain(run)
    out.pop("report", None)
    return out
