"""The four per-investor functions behind `InvestorWork`, over the services.

- reconcile: one investor's accounts, one reconciliation run per attempt (see
  `ReconcileService.reconcile_investor`: a finished earlier attempt is not redone);
- settle: that investor's unknown order outcomes from the broker's list (never resent), then
  fills of their trading account (recorded by order state: reading twice records nothing new);
- workflow: the schedule's workflow (idempotency keys are per fire and step: never sent twice);
- tokens: the investor's upstream tokens, renewed when near expiry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from orchestrator.domain.errors import ConfigError, SourceError
from orchestrator.domain.model import AccountRef
from orchestrator.ports.tasks import InvestorTask
from orchestrator.services.orders import OrderService
from orchestrator.services.reconcile import ReconcileService

# Every trading account of the investor (one per broker it trades with).
TradingAccounts = Callable[[str], Awaitable[Sequence[AccountRef]]]
WorkflowFire = Callable[[str, InvestorTask], Awaitable[object]]
TokenRefresh = Callable[[str], Awaitable[None]]


@dataclass
class ServiceInvestorWork:
    """InvestorWork over the services the composition root wired."""

    reconcile: ReconcileService | None = None
    orders: OrderService | None = None
    trading_accounts: TradingAccounts | None = None
    workflow: WorkflowFire | None = None
    tokens: TokenRefresh | None = None

    async def run(self, task: InvestorTask) -> str | None:
        if task.kind == "reconcile":
            if self.reconcile is None:
                raise ConfigError("reconciliation is not configured")
            return await self.reconcile.reconcile_investor(
                task.investor, key=task.fire_key, attempt=task.attempt, trigger=f"job:{task.job_id}"
            )
        if task.kind == "settle":
            return await self._settle(task.investor)
        if task.kind == "workflow":
            if self.workflow is None or task.arg is None:
                raise ConfigError("workflows are not configured")
            result = await self.workflow(task.arg, task)
            return "skipped" if result is None else "ran"
        if self.tokens is not None:
            await self.tokens(task.investor)
        return "ok"

    async def _settle(self, investor: str) -> str:
        if self.orders is None or not self.orders.ready:
            return "not ready"
        settled = await self.orders.resolve_pending(user_id=investor)
        fills = 0
        if self.trading_accounts is not None:
            try:
                accounts = await self.trading_accounts(investor)
            except SourceError:
                return f"{len(settled)} open outcomes; no trading account"
            for account in accounts:
                fills += (await self.orders.sync_fills(account)).fills_recorded
        return f"{len(settled)} open outcomes, {fills} fills recorded"
