from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from adapters.db import migrate
from orchestrator import bootstrap
from orchestrator.domain.alerts import Alert
from orchestrator.domain.errors import SourceUnavailable
from orchestrator.settings import load_settings


@pytest.fixture
def container(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> bootstrap.Container:
    monkeypatch.setenv("ORCH_DATABASE__URL", f"sqlite+aiosqlite:///{tmp_path / 'h.db'}")
    monkeypatch.setenv("ORCH_SECURITY__SANDBOX_KEY_FILE", str(tmp_path / "key"))
    return bootstrap.build(load_settings(Path("config/orchestrator.yaml")))


async def test_readyz_needs_migrations_and_a_running_scheduler(
    container: bootstrap.Container,
) -> None:
    """/healthz answers at once; /readyz is 503 until migrated and scheduled, then 200."""
    api = bootstrap.build_api(container)
    transport = httpx.ASGITransport(app=api)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        not_ready = await client.get("/readyz")
        assert not_ready.status_code == 503
        assert not_ready.json()["checks"] == {
            "database": True,
            "migrations": False,
            "scheduler": False,
            "orders": False,
        }
        assert not_ready.json()["reasons"] == {"orders": "order recovery has not started"}

    await migrate.upgrade(container.db)
    async with bootstrap.running(container):
        await asyncio.gather(*container.background)  # start-up recovery (nothing to settle)
        api = bootstrap.build_api(container)
        transport = httpx.ASGITransport(app=api)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            ready = await client.get("/readyz")
            jobs = await client.get(
                "/api/v1/jobs", headers={"Authorization": "Bearer demo-viewer-key-sandbox-only"}
            )

    assert ready.status_code == 200
    assert {j["id"] for j in jobs.json()} >= {"reconcile-eod", "token-upkeep", "orders-upkeep"}


async def test_failed_order_recovery_shows_in_readyz_and_status_and_alerts_once(
    container: bootstrap.Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A recovery that fails leaves the service not ready, with the reason, and says so in
    /api/v1/status; the order service alerts once."""
    sent: list[Alert] = []

    async def record(alert: Alert) -> None:
        sent.append(alert)

    async def broken() -> object:
        raise SourceUnavailable("kis", "order list unreachable")

    orders = container.orders
    assert orders is not None
    monkeypatch.setattr(orders, "_recover", broken)
    monkeypatch.setattr(orders, "_notifier", SimpleNamespace(notify=record))
    await migrate.upgrade(container.db)
    async with bootstrap.running(container):
        await asyncio.gather(*container.background)
        api = bootstrap.build_api(container)
        transport = httpx.ASGITransport(app=api)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            ready = await client.get("/readyz")
            status = await client.get(
                "/api/v1/status",
                headers={"Authorization": "Bearer demo-viewer-key-sandbox-only"},
            )

    assert ready.status_code == 503
    assert ready.json()["checks"]["orders"] is False
    assert ready.json()["reasons"]["orders"] == (
        "order recovery failed: [kis] order list unreachable"
    )
    recovery = status.json()["order_recovery"]
    assert (recovery["state"], recovery["error"]) == ("failed", "[kis] order list unreachable")
    assert [a.key for a in sent] == ["orders.recovery_failed"]


def test_sandbox_key_file_is_created_private(
    container: bootstrap.Container, tmp_path: Path
) -> None:
    """In sandbox mode with no key configured, a 0600 key file is created on first run."""
    key = tmp_path / "key"

    assert key.exists()
    assert key.stat().st_mode & 0o777 == 0o600
