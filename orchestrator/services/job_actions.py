"""What each scheduled job does at a fire: the once-per-fire part, then one task per investor.

The scheduler claims a fire and calls the action its job names (`scheduler.jobs[].action`,
`DEFAULT_JOBS`); the composition root registers `JobActions.actions()` under those names.

- `reconcile`: waits until start-up recovery has settled and journalled what happened while the
  service was down (the first comparison must see it), then one reconciliation per investor with
  an account to reconcile;
- `token_upkeep`: app-key tokens (KIS, further brokers) are the app's, not an investor's: renewed
  once per fire; then each active investor's upstream tokens;
- `orders_upkeep`: a failed start-up recovery is retried (orders stay refused until it succeeds),
  overdue workflow approvals expire, then each active investor's unknown outcomes are settled
  from the broker's list (never resent) and their fills recorded;
- `workflow:<schedule>`: the schedule's workflow, as one task for the investor who owns it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from orchestrator.ports.tasks import ActiveInvestors, FannedOut, TaskKind
from orchestrator.scheduling import Action, JobFire
from orchestrator.services.orders import OrderService
from orchestrator.services.upkeep import retry_failed_recovery
from orchestrator.workflows.loader import WorkflowCatalog

# Renews one app-key token (re-issued when near expiry); the renewal rules are the adapter's.
RenewToken = Callable[[], Awaitable[object]]
# Returns once start-up recovery has finished (at once outside `serve`).
RecoveryDone = Callable[[], Awaitable[None]]


async def _no_recovery() -> None:
    return None


class FansOut(Protocol):
    """`services.fanout.FanOut`: one task per investor, the total recorded before any starts."""

    async def __call__(
        self, fire: JobFire, kind: TaskKind, investors: Sequence[str], arg: str | None = None
    ) -> FannedOut: ...


class ReconciledInvestors(Protocol):
    """`ReconcileService`: the investors with an account to reconcile."""

    async def investors(self) -> list[str]: ...


class Workflows(Protocol):
    """The parts of `WorkflowRunner` the jobs use."""

    @property
    def catalog(self) -> WorkflowCatalog: ...

    async def expire_overdue(self) -> object: ...

    async def resume_interrupted(self) -> object: ...


@dataclass
class JobActions:
    """The scheduler's actions over the services; `None` services make their jobs no-ops."""

    fanout: FansOut
    investors: ActiveInvestors
    reconcile_service: ReconciledInvestors | None = None
    orders: OrderService | None = None
    runner: Workflows | None = None
    app_tokens: Sequence[RenewToken] = ()
    recovery_done: RecoveryDone = field(default=_no_recovery)

    def actions(self) -> dict[str, Action]:
        """Action name (as jobs name them) -> action."""
        actions: dict[str, Action] = {
            "reconcile": self.reconcile,
            "token_upkeep": self.token_upkeep,
            "orders_upkeep": self.orders_upkeep,
        }
        if self.runner is not None:
            actions["workflow:*"] = self.workflow
        return actions

    async def _each_investor(self, fire: JobFire, kind: TaskKind) -> FannedOut:
        return await self.fanout(fire, kind, await self.investors.active_ids())

    async def reconcile(self, fire: JobFire) -> FannedOut | None:
        if self.reconcile_service is None:
            return None
        await self.recovery_done()
        return await self.fanout(fire, "reconcile", await self.reconcile_service.investors())

    async def token_upkeep(self, fire: JobFire) -> FannedOut:
        for renew in self.app_tokens:
            await renew()
        return await self._each_investor(fire, "tokens")

    async def orders_upkeep(self, fire: JobFire) -> FannedOut | None:
        if self.orders is not None:
            # Raises while recovery keeps failing (the run is recorded failed; it alerted once).
            await retry_failed_recovery(self.orders, self.runner)
        if self.runner is not None:
            await self.runner.expire_overdue()
        if self.orders is None:
            return None
        return await self._each_investor(fire, "settle")

    async def workflow(self, fire: JobFire) -> FannedOut:
        """`workflow:<schedule id>`: one task for the schedule's workflow's investor."""
        if self.runner is None:
            raise KeyError("workflows are not enabled")
        schedule_id = fire.action.split(":", 1)[1]
        schedule = self.runner.catalog.schedules.get(schedule_id)
        if schedule is None:
            raise KeyError(f"unknown workflow schedule {schedule_id!r}")
        investor = self.runner.catalog.workflow(schedule.workflow).user
        return await self.fanout(fire, "workflow", [investor], arg=schedule_id)
