from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from adapters.db import migrate
from orchestrator import bootstrap
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
        }

    await migrate.upgrade(container.db)
    async with bootstrap.running(container):
        api = bootstrap.build_api(container)
        transport = httpx.ASGITransport(app=api)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            ready = await client.get("/readyz")
            jobs = await client.get(
                "/api/v1/jobs", headers={"Authorization": "Bearer demo-viewer-key-sandbox-only"}
            )

    assert ready.status_code == 200
    assert {j["id"] for j in jobs.json()} >= {"reconcile-eod", "token-upkeep"}


def test_sandbox_key_file_is_created_private(
    container: bootstrap.Container, tmp_path: Path
) -> None:
    """In sandbox mode with no key configured, a 0600 key file is created on first run."""
    key = tmp_path / "key"

    assert key.exists()
    assert key.stat().st_mode & 0o777 == 0o600
