"""Upkeep the order service needs beyond the per-investor fan-out: retrying a failed start-up
recovery. While recovery has failed, orders stay refused (retryable `OrdersNotReady`, shown in
/readyz and /api/v1/status, alerted once); each order-upkeep fire tries again, and once it
succeeds the workflow runs a crash left executing are resumed."""

from __future__ import annotations

from typing import Protocol

import structlog

from orchestrator.services.orders import OrderService

log = structlog.get_logger(__name__)


class InterruptedRuns(Protocol):
    async def resume_interrupted(self) -> object: ...


async def retry_failed_recovery(orders: OrderService, runs: InterruptedRuns | None) -> None:
    """Retry recovery if (and only if) it failed; raises again while it keeps failing, so the
    job run is recorded as failed. A recovery still running is left alone: it alone may touch
    the unresolved intents."""
    if orders.ready or orders.recovery_status().state != "failed":
        return
    log.info("orders.recovery_retry")
    await orders.recover()
    if runs is not None:
        await runs.resume_interrupted()
