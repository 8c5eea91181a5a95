"""What the workflow runner works with (`WorkflowDeps`, all behind ports) and the calendar
helpers its keys and conditions use."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time

from orchestrator.domain.timeutil import KST, to_kst, to_utc
from orchestrator.ports.upstream import Clock, Notifier
from orchestrator.ports.workflows import (
    KillSwitchStore,
    OrderPlacer,
    PortfolioReader,
    Reconciler,
    Snapshotter,
    TradingCalendar,
    TransferProposer,
    WorkflowRunStore,
)
from orchestrator.workflows.spec import HouseLimits


def _new_id() -> str:
    return uuid.uuid4().hex[:20]


@dataclass
class WorkflowDeps:
    """The runner's collaborators, all behind ports (wired in orchestrator.bootstrap)."""

    store: WorkflowRunStore
    kill_switch: KillSwitchStore
    orders: OrderPlacer
    portfolio: PortfolioReader
    reconciler: Reconciler
    snapshots: Snapshotter
    transfers: TransferProposer
    notifier: Notifier
    calendar: TradingCalendar
    clock: Clock
    house_limits: HouseLimits = field(default_factory=HouseLimits)
    new_id: Callable[[], str] = _new_id


def fire_tag(scheduled_for: datetime, *, manual: bool = False) -> str:
    """The fire's part of every key: UTC, whole seconds ("20260302T010000Z")."""
    tag = to_utc(scheduled_for).strftime("%Y%m%dT%H%M%SZ")
    return f"manual-{tag}" if manual else tag


def kst_day_start(at: datetime) -> datetime:
    return datetime.combine(to_kst(at).date(), time(0), KST)


def nth_trading_day(calendar: TradingCalendar, at: datetime) -> int | None:
    """1 for the month's first KRX trading day, ...; None when `at` is not a trading day."""
    day = to_kst(at).date()
    if not calendar.is_trading_day(day):
        return None
    return sum(1 for d in range(1, day.day + 1) if calendar.is_trading_day(day.replace(day=d)))
