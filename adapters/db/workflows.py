"""WorkflowRunStore and KillSwitchStore on the database (SQLite or PostgreSQL).

The claim is the unique fire_key: one run per fire, whatever the number of replicas or restarts.
Operator decisions are compare-and-set updates, audited with `audit.append_in` in the same
transaction as the change; so is the kill switch (a `settings_kv` row). When two audit writers
race for the chain head, the losing transaction rolls back whole and is retried.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import structlog
from sqlalchemy import exc, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from adapters.db.audit import append_in
from adapters.db.engine import Database
from adapters.db.tables import SettingRow, WorkflowRunRow
from orchestrator.domain.model import AuditEvent
from orchestrator.domain.money import ZERO
from orchestrator.domain.timeutil import to_utc
from orchestrator.ports.workflows import (
    KillSwitchState,
    RunDecision,
    RunStatus,
    WorkflowRun,
)

KILL_SWITCH_KEY = "killswitch"
_AUDIT_RETRIES = 20
_SENT = ("sent", "unknown")
T = TypeVar("T")
log = structlog.get_logger(__name__)


class DbWorkflowStore:
    """WorkflowRunStore + KillSwitchStore ports on `Database`."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- runs --------------------------------------------------------------------------------

    async def claim(self, run: WorkflowRun) -> tuple[WorkflowRun, bool]:
        try:
            async with self._db.session() as session:
                session.add(_row(run))
        except exc.IntegrityError:
            existing = await self._by_fire_key(run.fire_key)
            if existing is None:  # the conflict was not the fire key: a real error
                raise
            return existing, False
        return run, True

    async def _by_fire_key(self, fire_key: str) -> WorkflowRun | None:
        async with self._db.session() as session:
            row = (
                await session.execute(
                    select(WorkflowRunRow).where(col(WorkflowRunRow.fire_key) == fire_key)
                )
            ).scalar_one_or_none()
        return None if row is None else _run(row)

    async def save(self, run: WorkflowRun) -> None:
        async with self._db.session() as session:
            await session.execute(
                update(WorkflowRunRow)
                .where(col(WorkflowRunRow.id) == run.id)
                .values(**_mutable(run))
            )

    async def get(self, run_id: str) -> WorkflowRun | None:
        async with self._db.session() as session:
            row = await session.get(WorkflowRunRow, run_id)
        return None if row is None else _run(row)

    async def runs(
        self,
        *,
        workflow: str | None = None,
        status: RunStatus | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Sequence[WorkflowRun]:
        query = (
            select(WorkflowRunRow)
            .order_by(col(WorkflowRunRow.created_at).desc(), col(WorkflowRunRow.id))
            .limit(limit)
            .offset(offset)
        )
        if workflow is not None:
            query = query.where(col(WorkflowRunRow.workflow) == workflow)
        if status is not None:
            query = query.where(col(WorkflowRunRow.status) == str(status))
        async with self._db.session() as session:
            rows = (await session.execute(query)).scalars().all()
        return [_run(r) for r in rows]

    async def decide(self, run_id: str, decision: RunDecision) -> WorkflowRun | None:
        at = to_utc(decision.at)
        values: dict[str, Any] = {
            "status": str(decision.to),
            "decided_at": at,
            "decided_by": decision.by[:100],
            "updated_at": at,
        }
        if decision.to is not RunStatus.EXECUTING:
            values["finished_at"] = at
        conditions = [
            col(WorkflowRunRow.id) == run_id,
            col(WorkflowRunRow.status) == str(RunStatus.AWAITING_APPROVAL),
        ]
        if decision.to is RunStatus.EXECUTING:
            conditions.append(
                or_(col(WorkflowRunRow.expires_at).is_(None), col(WorkflowRunRow.expires_at) > at)
            )

        async def move(session: AsyncSession) -> bool:
            if await session.get(WorkflowRunRow, run_id) is None:
                raise KeyError(run_id)
            result = await session.execute(
                update(WorkflowRunRow).where(*conditions).values(**values)
            )
            if int(getattr(result, "rowcount", 0) or 0) != 1:
                return False
            action = {
                RunStatus.EXECUTING: "workflow.run_approved",
                RunStatus.REJECTED: "workflow.run_rejected",
                RunStatus.EXPIRED: "workflow.run_expired",
            }.get(decision.to, f"workflow.run_{decision.to}")
            detail = {"reason": decision.reason} if decision.reason else {}
            await append_in(
                session,
                AuditEvent(
                    at=decision.at,
                    actor=decision.by,
                    action=action,
                    subject=f"workflow_run:{run_id}",
                    detail=detail,
                ),
            )
            return True

        if not await self._audited(move):
            return None
        return await self.get(run_id)

    async def awaiting_until(self, before: datetime) -> Sequence[WorkflowRun]:
        query = select(WorkflowRunRow).where(
            col(WorkflowRunRow.status) == str(RunStatus.AWAITING_APPROVAL),
            col(WorkflowRunRow.expires_at) <= to_utc(before),
        )
        async with self._db.session() as session:
            rows = (await session.execute(query)).scalars().all()
        return [_run(r) for r in rows]

    async def sent_notional_since(self, since: datetime) -> Decimal:
        # Only rows touched since `since` can hold an order sent since then.
        query = select(col(WorkflowRunRow.outcome)).where(
            col(WorkflowRunRow.updated_at) >= to_utc(since),
            col(WorkflowRunRow.dry_run).is_(False),
        )
        async with self._db.session() as session:
            outcomes = (await session.execute(query)).scalars().all()
        total = ZERO
        for outcome in outcomes:
            total += _sent_since(outcome, since)
        return total

    # -- kill switch -------------------------------------------------------------------------

    async def kill_switch(self) -> KillSwitchState:
        async with self._db.session() as session:
            row = await session.get(SettingRow, KILL_SWITCH_KEY)
        if row is None:
            return KillSwitchState(on=False)
        value = row.value or {}
        return KillSwitchState(
            on=bool(value.get("on", False)),
            reason=str(value.get("reason", "")),
            updated_at=row.updated_at,
            updated_by=row.updated_by,
        )

    async def set_kill_switch(self, state: KillSwitchState) -> KillSwitchState:
        if state.updated_at is None:
            raise ValueError("a kill switch change needs updated_at")
        at = state.updated_at

        async def write(session: AsyncSession) -> bool:
            row = await session.get(SettingRow, KILL_SWITCH_KEY)
            value = {"on": state.on, "reason": state.reason}
            if row is None:
                session.add(
                    SettingRow(
                        key=KILL_SWITCH_KEY,
                        value=value,
                        updated_at=to_utc(at),
                        updated_by=state.updated_by[:100],
                    )
                )
            else:
                row.value = value
                row.updated_at = to_utc(at)
                row.updated_by = state.updated_by[:100]
            await session.flush()
            await append_in(
                session,
                AuditEvent(
                    at=at,
                    actor=state.updated_by,
                    action="killswitch.engaged" if state.on else "killswitch.released",
                    subject="killswitch",
                    detail={"reason": state.reason},
                ),
            )
            return True

        await self._audited(write)
        return await self.kill_switch()

    # -- helpers -----------------------------------------------------------------------------

    async def _audited(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run `work` in one transaction, retrying it whole when the audit chain head raced."""
        for _ in range(_AUDIT_RETRIES):
            try:
                async with self._db.session() as session:
                    return await work(session)
            except exc.IntegrityError:
                log.debug("workflow_store.audit_raced")
        raise RuntimeError("workflow store: could not append the audit event after races")


def _sent_since(outcome: object, since: datetime) -> Decimal:
    """Sum of `notional` over outcome["results"] sent (or maybe sent) at or after `since`."""
    if not isinstance(outcome, dict):
        return ZERO
    total = ZERO
    for result in outcome.get("results") or ():
        if not isinstance(result, dict) or result.get("status") not in _SENT:
            continue
        try:
            at = datetime.fromisoformat(str(result["at"]))
            notional = Decimal(str(result["notional"]))
        except (KeyError, ValueError, InvalidOperation):
            continue
        if at.tzinfo is not None and at >= since:
            total += notional
    return total


def _mutable(run: WorkflowRun) -> dict[str, Any]:
    return {
        "status": str(run.status),
        "plan": dict(run.plan),
        "decisions": [dict(d) for d in run.decisions],
        "outcome": dict(run.outcome),
        "updated_at": to_utc(run.updated_at),
        "expires_at": _utc(run.expires_at),
        "decided_at": _utc(run.decided_at),
        "decided_by": run.decided_by,
        "finished_at": _utc(run.finished_at),
    }


def _row(run: WorkflowRun) -> WorkflowRunRow:
    return WorkflowRunRow(
        id=run.id,
        workflow=run.workflow,
        fire_key=run.fire_key,
        dry_run=run.dry_run,
        scheduled_for=_utc(run.scheduled_for),
        created_at=to_utc(run.created_at),
        **_mutable(run),
    )


def _run(row: WorkflowRunRow) -> WorkflowRun:
    return WorkflowRun(
        id=row.id,
        workflow=row.workflow,
        fire_key=row.fire_key,
        status=RunStatus(row.status),
        created_at=row.created_at,
        updated_at=row.updated_at,
        dry_run=row.dry_run,
        scheduled_for=row.scheduled_for,
        plan=row.plan or {},
        decisions=tuple(row.decisions or ()),
        outcome=row.outcome or {},
        expires_at=row.expires_at,
        decided_at=row.decided_at,
        decided_by=row.decided_by,
        finished_at=row.finished_at,
    )


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else to_utc(value)
