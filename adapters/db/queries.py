"""OperatorQueries on the database: the operator API's read side."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlmodel import SQLModel, col

from adapters.db.engine import Database
from adapters.db.reconciliation import DbReconciliationStore
from adapters.db.tables import (
    AuditEventRow,
    BreakRow,
    OrderIntentRow,
    ReconciliationRunRow,
    StoredSecretRow,
)
from orchestrator.domain.breaks import ACTIVE_STATUSES
from orchestrator.logging import mask_reply

# Columns the operator view never shows: the account number is kept (encrypted) only so that
# recovery can ask the broker about exactly that account; masked_number is what people see.
_HIDDEN = frozenset({"external_ref"})


def shown(value: Any) -> Any:
    """What the operator API may show of a stored value: JSON-ready, masked like the logs."""
    return mask_reply(plain(value))


def plain(value: Any) -> Any:
    """JSON-ready form: Decimal as string (exact), datetimes ISO 8601 with offset."""
    # Scalars first: they are most of the values, and the console renders thousands a second.
    if value is None or isinstance(value, str | int | float):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.name not in _HIDDEN
        }
    if isinstance(value, SQLModel):
        return {k: plain(getattr(value, k)) for k in type(value).model_fields if k not in _HIDDEN}
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
    """Reconciliation reads go through the reconciliation store (one place for those queries)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._recon = DbReconciliationStore(db)

    async def reconciliations(self, limit: int, offset: int) -> Sequence[Mapping[str, Any]]:
        runs = await self._recon.runs(limit=limit, offset=offset)
        return [_without_report(shown(r)) for r in runs]

    async def reconciliation(self, run_id: str) -> Mapping[str, Any] | None:
        run = await self._recon.run(run_id)
        if run is None:
            return None
        out: dict[str, Any] = shown(run)
        async with self._db.session() as s:
            breaks = await s.execute(
                select(BreakRow)
                .where(
                    (col(BreakRow.first_run_id) == run_id) | (col(BreakRow.last_run_id) == run_id)
                )
                .order_by(col(BreakRow.id))
            )
            out["breaks"] = [shown(b) for b in breaks.scalars()]
        return out

    async def breaks(
        self, status: str | None, limit: int, offset: int, user_id: str | None = None
    ) -> Sequence[Mapping[str, Any]]:
        found = await self._recon.breaks(status=status, user_id=user_id, limit=limit, offset=offset)
        return [shown(b) for b in found]

    async def orders(
        self, state: str | None, limit: int, offset: int, user_id: str | None = None
    ) -> Sequence[Mapping[str, Any]]:
        query = select(OrderIntentRow).order_by(col(OrderIntentRow.created_at).desc())
        if state is not None:
            query = query.where(col(OrderIntentRow.state) == state)
        if user_id is not None:
            query = query.where(col(OrderIntentRow.user_id) == user_id)
        async with self._db.session() as s:
            rows = await s.execute(query.limit(limit).offset(offset))
            return [shown(o) for o in rows.scalars()]

    async def audit(self, limit: int, offset: int) -> Sequence[Mapping[str, Any]]:
        async with self._db.session() as s:
            rows = await s.execute(
                select(AuditEventRow)
                .order_by(col(AuditEventRow.seq).desc())
                .limit(limit)
                .offset(offset)
            )
            return [shown(a) for a in rows.scalars()]

    async def latest_portfolio(self, user_id: str) -> Mapping[str, Any] | None:
        found = await self._recon.portfolio(user_id)
        return None if found is None else shown(found)

    async def portfolio_history(self, user_id: str, limit: int) -> Sequence[Mapping[str, Any]]:
        async with self._db.session() as s:
            rows = await s.execute(
                select(col(ReconciliationRunRow.id), col(ReconciliationRunRow.report))
                .where(col(ReconciliationRunRow.finished_at).is_not(None))
                .order_by(col(ReconciliationRunRow.started_at).desc())
                .limit(limit)
            )
            found: list[dict[str, Any]] = []
            for run_id, report in rows.all():
                for item in (report or {}).get("portfolios", []):
                    if isinstance(item, dict) and item.get("user_id") == user_id:
                        found.append({"run_id": run_id, **item})
        found.reverse()
        return found

    async def break_detail(self, break_id: int) -> Mapping[str, Any] | None:
        async with self._db.session() as s:
            row = await s.get(BreakRow, break_id)
            if row is None:
                return None
            out: dict[str, Any] = plain(row)
            runs = await s.execute(
                select(ReconciliationRunRow).where(
                    col(ReconciliationRunRow.id).in_({row.first_run_id, row.last_run_id})
                )
            )
            evidence: list[dict[str, Any]] = []
            for run in runs.scalars():
                report = run.report or {}
                evidence.append(
                    {
                        "run_id": run.id,
                        "started_at": plain(run.started_at),
                        "status": run.status,
                        "sources": [
                            src
                            for src in report.get("sources", [])
                            if src.get("account_id") == row.account_id
                        ],
                        "breaks": [
                            b
                            for b in report.get("breaks", [])
                            if b.get("account_id") == row.account_id and b.get("key") == row.key
                        ],
                    }
                )
            out["evidence"] = sorted(evidence, key=lambda e: str(e["started_at"]))
            return out

    async def open_break_count(self) -> int:
        async with self._db.session() as s:
            count = await s.execute(
                select(func.count())
                .select_from(BreakRow)
                .where(col(BreakRow.status).in_([s.value for s in ACTIVE_STATUSES]))
            )
            return int(count.scalar_one())

    async def secret_expiries(self) -> Mapping[str, datetime | None]:
        async with self._db.session() as s:
            rows = await s.execute(
                select(col(StoredSecretRow.key), col(StoredSecretRow.expires_at))
            )
            return {key: expires for key, expires in rows.all()}  # noqa: C416 - Row -> pair


def _without_report(run: dict[str, Any]) -> dict[str, Any]:
    run.pop("report", None)
    return run
