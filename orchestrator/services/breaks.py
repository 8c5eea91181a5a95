"""Operator actions on one reconciliation break: acknowledge it with a comment, resolve it by hand
with a reason. Both are audited with the actor, in the same transaction as the change.

The rules (which status allows what, what a later run does to a manually resolved break) live in
`orchestrator.domain.breaks`; this service loads, applies the domain transition, and stores it
with a compare-and-set, deciding again if a reconciliation run changed the break meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from orchestrator.domain import breaks as life
from orchestrator.domain.breaks import BreakRecord
from orchestrator.domain.errors import NotFound, StateConflict
from orchestrator.domain.model import AuditEvent
from orchestrator.ports.reconciliation import BreakStore
from orchestrator.ports.upstream import Clock

log = structlog.get_logger(__name__)

# A run touching the same break at the same moment is rare; a few re-decisions settle it.
_MAX_RACES = 5


class BreakService:
    """acknowledge / resolve_manually for the API, the CLI and the console."""

    def __init__(self, store: BreakStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def get(self, break_id: int) -> BreakRecord:
        record = await self._store.get_break(break_id)
        if record is None:
            raise NotFound(f"no break {break_id}")
        return record

    async def acknowledge(self, break_id: int, comment: str, actor: str) -> BreakRecord:
        """The operator knows about the break; it stays active until a run clears it.

        Raises NotFound, StateConflict (already resolved), InvalidRequest (empty comment)."""

        def change(record: BreakRecord) -> BreakRecord:
            return life.acknowledge(record, comment=comment, actor=actor, now=self._clock.now())

        return await self._apply(break_id, "break.acknowledged", actor, change)

    async def resolve_manually(self, break_id: int, reason: str, actor: str) -> BreakRecord:
        """The operator fixed the cause by hand; a later run that still finds it reopens it.

        Raises NotFound, StateConflict (already resolved), InvalidRequest (empty reason)."""

        def change(record: BreakRecord) -> BreakRecord:
            return life.resolve_manually(record, reason=reason, actor=actor, now=self._clock.now())

        return await self._apply(break_id, "break.resolved_manually", actor, change)

    async def _apply(
        self,
        break_id: int,
        action: str,
        actor: str,
        change: Callable[[BreakRecord], BreakRecord],
    ) -> BreakRecord:
        for _ in range(_MAX_RACES):
            before = await self.get(break_id)
            after = change(before)
            event = AuditEvent(
                at=self._clock.now(),
                actor=actor.strip(),
                action=action,
                subject=f"break:{break_id}",
                detail={
                    "user_id": after.user_id,
                    "identity": after.identity,
                    "from": before.status.value,
                    "to": after.status.value,
                    "note": after.note or "",
                },
            )
            if await self._store.save_break(after, audit=event):
                log.info(
                    action,
                    break_id=break_id,
                    user_id=after.user_id,
                    kind=after.kind,
                    account_id=after.account_id,
                    actor=event.actor,
                    status=after.status.value,
                )
                return after
            log.info("break.raced", break_id=break_id, action=action)
        raise StateConflict(f"break {break_id} keeps changing; try again")


__all__ = ["BreakService"]
