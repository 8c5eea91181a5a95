"""The kill switch: while on, no workflow sends an order or proposes a transfer.

Persisted (shared by every replica) and audited by the store. The runner reads it fresh before
every order and transfer, so turning it on stops a run between two orders. `KillSwitch`
satisfies the API's `KillSwitchControl` (GET/POST /api/v1/killswitch) and backs the CLI.
"""

from __future__ import annotations

import structlog

from orchestrator.domain.errors import InvalidRequest
from orchestrator.ports.upstream import Clock
from orchestrator.ports.workflows import KillSwitchState, KillSwitchStore

log = structlog.get_logger(__name__)


class KillSwitch:
    def __init__(self, store: KillSwitchStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def is_on(self) -> bool:
        return (await self._store.kill_switch()).on

    async def state(self) -> dict[str, object]:
        """{"on", "reason", "updated_at", "updated_by"} (JSON-ready)."""
        return (await self._store.kill_switch()).as_dict()

    async def set(self, on: bool, reason: str, by: str) -> dict[str, object]:
        """Turn the switch on or off (audited with `by` and `reason`); returns the new state."""
        if not reason.strip():
            raise InvalidRequest("say why the kill switch changes (reason)")
        state = await self._store.set_kill_switch(
            KillSwitchState(on=on, reason=reason, updated_at=self._clock.now(), updated_by=by)
        )
        log.warning("workflow.kill_switch_set", on=on, by=by, reason=reason)
        return state.as_dict()
