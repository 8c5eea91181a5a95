"""The workflow test environment: the fakes of adapters/fake wired to a runner, at a fixed open
session, with the shipped workflows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from adapters.fake import FakeClock, FakeNotifier
from adapters.fake.workflows import (
    FakeCalendar,
    FakeOrderPlacer,
    FakePortfolio,
    FakeReconciler,
    FakeSnapshotter,
    FakeTransferProposer,
    InMemoryWorkflowStore,
)
from orchestrator.domain.model import (
    AccountKind,
    AccountRef,
    Institution,
)
from orchestrator.domain.timeutil import KST
from orchestrator.workflows.loader import WorkflowCatalog, load_catalog
from orchestrator.workflows.runner import WorkflowDeps, WorkflowRunner
from orchestrator.workflows.spec import HouseLimits

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "config" / "workflows"
# Tuesday 2026-03-03 10:00 KST: a trading day, session open. Monday 03-02 is a holiday here
# (삼일절 substitute), so 03-03 is March's first trading day.
OPEN = datetime(2026, 3, 3, 10, 0, tzinfo=KST)
HOLIDAYS = frozenset({date(2026, 3, 2)})

KIS = AccountRef("demo", "kis-1", Institution.KIS, AccountKind.BROKERAGE, "12345678-01")
SAMSUNG = AccountRef(
    "demo", "ss-1", Institution.SAMSUNG_SECURITIES, AccountKind.CMA, "fintech-ss-1"
)


def default_portfolio(at: datetime) -> FakePortfolio:
    """KIS: 200 × 069500, 50 × 114260, ₩1,500,000 orderable; Samsung: 100 × 069500, ₩5,000,000."""
    p = FakePortfolio(
        at=at,
        kis_orderable=Decimal(1_500_000),
        prices={
            "005930": Decimal(71_000),
            "069500": Decimal(35_000),
            "114260": Decimal(60_000),
        },
    )
    p.hold(KIS, "069500", 200)
    p.hold(SAMSUNG, "069500", 100)
    p.hold(KIS, "114260", 50)
    p.set_cash(KIS, Decimal(1_600_000))
    p.set_cash(SAMSUNG, Decimal(5_000_000))
    return p


@dataclass
class Env:
    """Fakes behind every port, a fake clock at OPEN, and the shipped workflows."""

    clock: FakeClock = field(default_factory=lambda: FakeClock(OPEN))
    store: InMemoryWorkflowStore = field(default_factory=InMemoryWorkflowStore)
    orders: FakeOrderPlacer = field(default_factory=FakeOrderPlacer)
    portfolio: FakePortfolio = field(default_factory=lambda: default_portfolio(OPEN))
    reconciler: FakeReconciler = field(default_factory=FakeReconciler)
    snapshots: FakeSnapshotter = field(default_factory=FakeSnapshotter)
    transfers: FakeTransferProposer = field(default_factory=FakeTransferProposer)
    notifier: FakeNotifier = field(default_factory=FakeNotifier)
    calendar: FakeCalendar = field(default_factory=lambda: FakeCalendar(HOLIDAYS))
    catalog: WorkflowCatalog = field(default_factory=lambda: load_catalog(SHIPPED))
    house: HouseLimits = field(default_factory=HouseLimits)
    ids: int = 0

    def _new_id(self) -> str:
        self.ids += 1
        return f"run{self.ids:04d}"

    def runner(
        self, catalog: WorkflowCatalog | None = None, store: object = None
    ) -> WorkflowRunner:
        backing = store if store is not None else self.store
        return WorkflowRunner(
            catalog or self.catalog,
            WorkflowDeps(
                store=backing,  # type: ignore[arg-type]
                kill_switch=backing,  # type: ignore[arg-type]
                orders=self.orders,
                portfolio=self.portfolio,
                reconciler=self.reconciler,
                snapshots=self.snapshots,
                transfers=self.transfers,
                notifier=self.notifier,
                calendar=self.calendar,
                clock=self.clock,
                house_limits=self.house,
                new_id=self._new_id,
            ),
        )

    def advance(self, delta: timedelta) -> None:
        self.clock.advance(delta.total_seconds())
