"""The scheduled jobs' actions: what each does once per fire, and whom it fans out to."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from adapters.db.engine import Database
from adapters.db.orders import DbOrderJournal
from adapters.fake import FakeClock, FakeOrderExecutor
from orchestrator.domain.errors import SourceUnavailable
from orchestrator.domain.model import AuditEvent
from orchestrator.ports.tasks import FannedOut, TaskKind
from orchestrator.scheduling import DEFAULT_JOBS, JobFire
from orchestrator.services.job_actions import JobActions
from orchestrator.services.order_sending import OrderPolicy
from orchestrator.services.orders import OrderService, OrdersNotReady
from orchestrator.workflows.loader import WorkflowCatalog
from tests.orders.conftest import START, buy
from tests.support.databases import cipher_for_tests
from tests.workflows.env import Env

INVESTORS = ["alice", "bob"]


@dataclass
class Fanned:
    """Records each fan-out instead of running tasks."""

    calls: list[tuple[str, TaskKind, list[str], str | None]] = field(default_factory=list)

    async def __call__(
        self, fire: JobFire, kind: TaskKind, investors: Sequence[str], arg: str | None = None
    ) -> FannedOut:
        self.calls.append((fire.job_id, kind, list(investors), arg))
        return FannedOut(total=len(investors))


class Investors:
    async def active_ids(self) -> Sequence[str]:
        return INVESTORS


class Reconciled:
    async def investors(self) -> list[str]:
        return ["alice"]  # bob has no account to reconcile


@dataclass
class RunnerCalls:
    """The workflow runner's upkeep methods, counted (catalog: the shipped workflows)."""

    env: Env = field(default_factory=Env)
    expired: int = 0
    resumed: int = 0

    @property
    def catalog(self) -> WorkflowCatalog:
        return self.env.catalog

    async def expire_overdue(self) -> object:
        self.expired += 1
        return []

    async def resume_interrupted(self) -> object:
        self.resumed += 1
        return []


def fire(job_id: str, action: str | None = None) -> JobFire:
    return JobFire(job_id=job_id, action=action or job_id, scheduled_for=START, replica="a")


def test_every_default_job_has_an_action() -> None:
    actions = JobActions(fanout=Fanned(), investors=Investors(), runner=RunnerCalls()).actions()
    assert {job.action for job in DEFAULT_JOBS} <= set(actions)
    assert "workflow:*" in actions
    assert "workflow:*" not in JobActions(fanout=Fanned(), investors=Investors()).actions()


async def test_token_upkeep_renews_app_tokens_once_then_fans_out_per_investor() -> None:
    renewed: list[str] = []

    async def kis() -> object:
        renewed.append("kis")
        return None

    async def kiwoom() -> object:
        renewed.append("kiwoom")
        return None

    fanned = Fanned()
    jobs = JobActions(fanout=fanned, investors=Investors(), app_tokens=(kis, kiwoom))
    result = await jobs.token_upkeep(fire("token-upkeep", "token_upkeep"))
    assert renewed == ["kis", "kiwoom"]
    assert fanned.calls == [("token-upkeep", "tokens", INVESTORS, None)]
    assert result == FannedOut(total=2)


async def test_reconcile_waits_for_recovery_then_fans_out_to_reconciled_investors() -> None:
    recovered = asyncio.Event()

    async def recovery_done() -> None:
        await recovered.wait()

    fanned = Fanned()
    jobs = JobActions(
        fanout=fanned,
        investors=Investors(),
        reconcile_service=Reconciled(),
        recovery_done=recovery_done,
    )
    task = asyncio.create_task(jobs.reconcile(fire("reconcile")))
    for _ in range(5):
        await asyncio.sleep(0)  # yields, not waits: give the action every chance to run early
    assert fanned.calls == []
    recovered.set()
    assert await task == FannedOut(total=1)
    assert fanned.calls == [("reconcile", "reconcile", ["alice"], None)]
    assert await JobActions(fanout=fanned, investors=Investors()).reconcile(fire("r")) is None


async def test_workflow_fire_is_one_task_for_the_schedules_investor() -> None:
    runner = RunnerCalls()
    schedule_id, schedule = next(iter(runner.catalog.schedules.items()))
    owner = runner.catalog.workflow(schedule.workflow).user
    fanned = Fanned()
    jobs = JobActions(fanout=fanned, investors=Investors(), runner=runner)
    await jobs.workflow(fire("wf", f"workflow:{schedule_id}"))
    assert fanned.calls == [("wf", "workflow", [owner], schedule_id)]
    with pytest.raises(KeyError, match="unknown workflow schedule"):
        await jobs.workflow(fire("wf", "workflow:nope"))


def _orders(journal: DbOrderJournal, clock: FakeClock, broker: FakeOrderExecutor) -> OrderService:
    # No real waiting: the recovery gate's wait is off, retries sleep on the fake clock.
    policy = OrderPolicy(ready_wait_seconds=0.0, recovery_timeout=20.0)
    return OrderService(journal, broker, clock, sleep=clock.sleep, policy=policy)


async def test_orders_upkeep_expires_approvals_then_settles_per_investor(db: Database) -> None:
    clock = FakeClock(START)
    journal = DbOrderJournal(db, cipher_for_tests())
    orders = _orders(journal, clock, FakeOrderExecutor("fake-kis", clock.now))
    await orders.recover()
    runner, fanned = RunnerCalls(), Fanned()
    jobs = JobActions(fanout=fanned, investors=Investors(), orders=orders, runner=runner)
    assert await jobs.orders_upkeep(fire("orders-upkeep", "orders_upkeep")) == FannedOut(2)
    assert (runner.expired, runner.resumed) == (1, 0)  # recovery had not failed: not redone
    assert fanned.calls == [("orders-upkeep", "settle", INVESTORS, None)]

    without_orders = JobActions(fanout=fanned, investors=Investors(), runner=runner)
    assert await without_orders.orders_upkeep(fire("orders-upkeep")) is None
    assert runner.expired == 2
    assert len(fanned.calls) == 1


async def test_orders_upkeep_retries_a_failed_recovery_before_anything_else(db: Database) -> None:
    clock = FakeClock(START)
    broker = FakeOrderExecutor("fake-kis", clock.now)
    journal = DbOrderJournal(db, cipher_for_tests())
    intent = buy("crashed").intent("oi-crashed", clock.now())
    audit = AuditEvent(at=clock.now(), actor="t", action="order.intent_recorded", subject="k")
    await journal.record(intent, broker=broker.name, audit=audit)
    orders = _orders(journal, clock, broker)
    for _ in range(40):
        broker.fail_next_list(SourceUnavailable("fake-kis", "order list down"))
    with pytest.raises(OrdersNotReady):
        await orders.recover()
    runner, fanned = RunnerCalls(), Fanned()
    jobs = JobActions(fanout=fanned, investors=Investors(), orders=orders, runner=runner)

    with pytest.raises(OrdersNotReady):
        await jobs.orders_upkeep(fire("orders-upkeep", "orders_upkeep"))
    assert (runner.expired, runner.resumed, fanned.calls) == (0, 0, [])

    broker._list_failures.clear()
    clock.advance(120)
    assert await jobs.orders_upkeep(fire("orders-upkeep", "orders_upkeep")) == FannedOut(2)
    assert orders.ready
    assert (runner.expired, runner.resumed) == (1, 1)  # runs a crash left executing resumed
    assert fanned.calls == [("orders-upkeep", "settle", INVESTORS, None)]
