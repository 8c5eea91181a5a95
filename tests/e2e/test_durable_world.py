"""One durable world: the in-process sandboxes keep their state across restarts of the service,
so the ledger and the simulated broker and relay never drift apart."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from adapters.db import migrate
from adapters.fake import FakeNotifier
from orchestrator import bootstrap
from orchestrator.domain.alerts import Severity
from orchestrator.domain.errors import AlreadyRunning
from orchestrator.domain.model import OrderType, Side
from orchestrator.services.orders import OrderRequest
from orchestrator.settings import load_settings

Start = Callable[[], Any]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ORCH_DATABASE__URL", f"sqlite+aiosqlite:///{tmp_path / 'svc.db'}")
    monkeypatch.setenv("ORCH_SECURITY__SANDBOX_KEY_FILE", str(tmp_path / "key"))
    # Judge our own fills at once instead of waiting out the too-recent window (no sleeping).
    monkeypatch.setenv("ORCH_RECONCILIATION__TOO_RECENT_SECONDS", "0")
    return tmp_path


@asynccontextmanager
async def started(notifier: FakeNotifier) -> AsyncIterator[bootstrap.Container]:
    container = bootstrap.build(load_settings(Path("config/orchestrator.yaml")), notifier=notifier)
    await migrate.upgrade(container.db)
    async with bootstrap.running(container):
        assert container.scheduler is not None
        await container.scheduler.wait_idle()  # the start-up reconciliation
        yield container


async def _buy(c: bootstrap.Container, key: str, account_id: str | None = None) -> str:
    assert c.orders is not None
    assert c.directory is not None
    if not c.orders.ready:
        await c.orders.recover()
    account = await c.directory.trading_account("demo", account_id)
    record = await c.orders.place(
        OrderRequest(
            idempotency_key=key,
            account=account,
            symbol="005930",
            side=Side.BUY,
            quantity=1,
            order_type=OrderType.MARKET,
        )
    )
    assert record.broker_order_id is not None, record
    await c.orders.sync_fills(account)  # what the orders-upkeep job does every minute
    return record.broker_order_id


def _broker_orders(c: bootstrap.Container) -> list[str]:
    broker = c.sandbox_apps["kis"].state.broker
    return [o.odno for o in broker.book.orders]


def _kiwoom_orders(c: bootstrap.Container) -> list[str]:
    return [o.ord_no for o in c.sandbox_apps["kiwoom"].state.kiwoom.orders]


async def test_restarts_continue_the_same_world(env: Path) -> None:
    """Over three restarts: clean reconciliations, no alert above warning, new order numbers at
    KIS and at Kiwoom (both sandboxes durable in-process), earlier orders still listed."""
    numbers: list[str] = []
    kiwoom: list[str] = []
    for round_ in range(3):
        notifier = FakeNotifier()
        async with started(notifier) as c:
            assert c.reconcile is not None
            first = await c.reconcile.run_once(trigger="test")
            assert first.status == "clean", first
            numbers.append(await _buy(c, f"restart-{round_}"))
            kiwoom.append(await _buy(c, f"restart-kw-{round_}", "kiwoom-main"))
            after = await c.reconcile.run_once(trigger="test")
            assert after.status == "clean", after
            assert set(numbers) <= set(_broker_orders(c))
            assert set(kiwoom) <= set(_kiwoom_orders(c))
        loud = [a for a in notifier.sent if a.severity is Severity.CRITICAL]
        assert loud == [], loud

    assert len(set(numbers)) == 3
    assert len(set(kiwoom)) == 3
    assert (env / "svc-sandbox.db").exists()


async def test_the_world_is_held_by_one_process(env: Path) -> None:
    """While a container holds the world, a second one refuses to open it."""
    async with started(FakeNotifier()):
        with pytest.raises(AlreadyRunning, match="in use by another process"):
            bootstrap.build(load_settings(Path("config/orchestrator.yaml")))


async def test_ephemeral_worlds_reseed(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`sandbox.ephemeral` keeps today's in-memory sandboxes: nothing is written."""
    monkeypatch.setenv("ORCH_SANDBOX__EPHEMERAL", "true")
    async with started(FakeNotifier()) as c:
        assert c.world is None
    assert not (env / "svc-sandbox.db").exists()
