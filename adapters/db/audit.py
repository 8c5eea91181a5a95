"""The append-only, hash-chained audit log.

Each event's hash covers its content and the previous event's hash, so editing or deleting any row
breaks every later link; `verify()` names the first broken one. A unique prev_hash keeps the chain
linear under concurrent writers: the loser of a race gets an IntegrityError and retries on the new
head.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import structlog
from sqlalchemy import exc, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from adapters.db.engine import Database
from adapters.db.tables import AuditEventRow
from orchestrator.domain.model import AuditEvent
from orchestrator.domain.timeutil import to_utc
from orchestrator.logging import mask_at_rest

GENESIS = "0" * 64
_MAX_RACE_RETRIES = 20
log = structlog.get_logger(__name__)


def event_hash(prev_hash: str, event: AuditEvent) -> str:
    body = json.dumps(
        {
            "prev": prev_hash,
            "at": to_utc(event.at).isoformat(),
            "actor": event.actor,
            "action": event.action,
            "subject": event.subject,
            "detail": dict(event.detail),
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainReport:
    checked: int
    first_broken_seq: int | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.first_broken_seq is None


class DbAuditLog:
    """AuditLog port on the database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def append(self, event: AuditEvent) -> None:
        for _ in range(_MAX_RACE_RETRIES):
            try:
                async with self._db.session() as session:
                    await append_in(session, event)
                return
            except exc.IntegrityError:
                log.debug("audit.append_raced")
        raise RuntimeError("audit log: could not append after repeated races")

    async def recent(self, limit: int = 100, offset: int = 0) -> Sequence[AuditEventRow]:
        async with self._db.session() as session:
            rows = await session.execute(
                select(AuditEventRow)
                .order_by(col(AuditEventRow.seq).desc())
                .limit(limit)
                .offset(offset)
            )
            return list(rows.scalars())

    async def verify(self, batch: int = 1000) -> ChainReport:
        """Walk the chain from the start; report the first row whose link or hash is wrong."""
        prev = GENESIS
        checked = 0
        last_seq = 0
        async with self._db.session() as session:
            while True:
                rows = list(
                    (
                        await session.execute(
                            select(AuditEventRow)
                            .where(col(AuditEventRow.seq) > last_seq)
                            .order_by(col(AuditEventRow.seq))
                            .limit(batch)
                        )
                    ).scalars()
                )
                if not rows:
                    return ChainReport(checked=checked)
                for row in rows:
                    assert row.seq is not None
                    if row.prev_hash != prev:
                        return ChainReport(checked, row.seq, "previous-hash link broken")
                    expected = event_hash(prev, _event_of(row))
                    if row.hash != expected:
                        return ChainReport(checked, row.seq, "content does not match its hash")
                    prev = row.hash
                    last_seq = row.seq
                    checked += 1


async def append_in(session: AsyncSession, event: AuditEvent) -> None:
    """Append inside the caller's transaction, so the audit row commits with what it records."""
    head = (
        await session.execute(
            select(col(AuditEventRow.hash)).order_by(col(AuditEventRow.seq).desc()).limit(1)
        )
    ).scalar_one_or_none()
    prev = head or GENESIS
    # Every audit event passes here: its detail (reasons, vendor messages) is masked before it
    # is hashed and kept, so the chain verifies over what is stored and no full account number
    # or token is at rest in the log.
    event = dataclasses.replace(event, detail=mask_at_rest(dict(event.detail)))
    session.add(
        AuditEventRow(
            at=to_utc(event.at),
            actor=event.actor,
            action=event.action,
            subject=event.subject,
            detail=dict(event.detail),
            prev_hash=prev,
            hash=event_hash(prev, event),
        )
    )
    await session.flush()


def _event_of(row: AuditEventRow) -> AuditEvent:
    return AuditEvent(
        at=row.at, actor=row.actor, action=row.action, subject=row.subject, detail=row.detail or {}
    )
