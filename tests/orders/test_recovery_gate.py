"""The recovery gate, owned by the order service: orders arriving during start-up recovery wait
(bounded), then get a retryable error; a failed recovery is visible, alerts once, and is retried
by order upkeep."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

import pytest

from orchestrator.domain.alerts import Alert, Severity
from orchestrator.domain.errors import SourceUnavailable
from orchestrator.domain.model import AccountRef, AuditEvent, OrderReport, OrderState
from orchestrator.services.orders import OrdersNotReady
from orchestrator.services.upkeep import retry_failed_recovery
from tests.orders.conftest import Harness, buy


class Alerts:
    def __init__(self) -> None:
        self.sent: list[Alert] = []

    async def notify(self, alert: Alert) -> None:
        self.sent.append(alert)


async def _crashed_intent(harness: Harness, key: str) -> None:
    intent = buy(key).intent(f"oi-{key}", harness.clock.now())
    event = AuditEvent(
        at=harness.clock.now(), actor="t", action="order.intent_recorded", subject=key
    )
    await harness.journal.record(intent, broker=harness.broker.name, audit=event)


class BlockingList:
    """Holds the broker's order list until released, to catch a place() during recovery."""

    def __init__(self, harness: Harness) -> None:
        self.release = asyncio.Event()
        self.entered = asyncio.Event()
        self._inner = harness.broker.orders_since

    async def __call__(self, account: AccountRef, since: datetime) -> Sequence[OrderReport]:
        self.entered.set()
        await self.release.wait()
        return await self._inner(account, since)


async def test_an_order_during_recovery_waits_for_it_then_goes(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _crashed_intent(harness, "old")
    blocker = BlockingList(harness)
    monkeypatch.setattr(harness.broker, "orders_since", blocker)
    service = harness.service(ready_wait_seconds=60.0)
    recovery = asyncio.create_task(service.recover())
    await blocker.entered.wait()
    assert service.recovery_status().state == "running"

    order = asyncio.create_task(service.place(buy("new")))
    await asyncio.sleep(0)  # let place() reach the gate (a yield, not a wait)
    assert not order.done()
    assert await harness.journal.by_key("new") is None  # nothing recorded while waiting
    blocker.release.set()
    await recovery

    record = await order
    assert record.state is OrderState.ACCEPTED
    assert service.recovery_status().state == "ready"


async def test_after_the_bound_the_order_gets_a_retryable_error_and_nothing_is_recorded(
    harness: Harness,
) -> None:
    service = harness.service()  # recovery not run: "pending"

    with pytest.raises(OrdersNotReady) as e:
        await service.place(buy("k1"))

    assert isinstance(e.value, SourceUnavailable)
    assert e.value.retryable
    assert e.value.retry_after is not None
    assert "retry later" in str(e.value)
    assert await harness.journal.by_key("k1") is None
    assert harness.broker.sent == []


async def test_slow_recovery_shows_as_slow(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _crashed_intent(harness, "old")
    blocker = BlockingList(harness)
    monkeypatch.setattr(harness.broker, "orders_since", blocker)
    service = harness.service(recovery_slow_after=30.0)
    recovery = asyncio.create_task(service.recover())
    await blocker.entered.wait()
    assert service.recovery_status().slow is False

    harness.clock.advance(31)

    status = service.recovery_status()
    assert (status.state, status.slow) == ("running", True)
    assert status.reason == "order recovery is slow (still running)"
    blocker.release.set()
    await recovery


async def test_failed_recovery_is_visible_alerts_once_and_upkeep_retries_it(
    harness: Harness,
) -> None:
    await _crashed_intent(harness, "old")
    alerts = Alerts()
    service = harness.service(alerts, recovery_timeout=20.0)
    down = SourceUnavailable("fake-kis", "order list down")
    for _ in range(40):
        harness.broker.fail_next_list(down)

    with pytest.raises(OrdersNotReady):
        await service.recover()
    status = service.recovery_status()
    assert status.state == "failed"
    assert status.reason is not None
    assert status.reason.startswith("order recovery failed:")
    with pytest.raises(OrdersNotReady, match="order recovery failed"):
        await service.place(buy("k1"))

    with pytest.raises(OrdersNotReady):
        await retry_failed_recovery(service, None)  # still failing: retried, not alerted again
    assert [a.severity for a in alerts.sent] == [Severity.CRITICAL]

    harness.broker._list_failures.clear()
    harness.clock.advance(120)
    await retry_failed_recovery(service, None)

    assert service.recovery_status().state == "ready"
    assert [a.severity for a in alerts.sent] == [Severity.CRITICAL, Severity.INFO]
    assert (await service.place(buy("k1"))).state is OrderState.ACCEPTED
