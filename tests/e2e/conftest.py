"""Fixtures for end-to-end tests: the service as `make run` wires it, on a temporary SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from adapters.db import migrate
from adapters.fake import FakeNotifier
from orchestrator import bootstrap
from orchestrator.settings import load_settings


@pytest.fixture
async def service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[bootstrap.Container, httpx.AsyncClient, FakeNotifier]]:
    monkeypatch.setenv("ORCH_DATABASE__URL", f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}")
    monkeypatch.setenv("ORCH_SECURITY__SANDBOX_KEY_FILE", str(tmp_path / "key"))
    notifier = FakeNotifier()
    container = bootstrap.build(load_settings(Path("config/orchestrator.yaml")), notifier=notifier)
    await migrate.upgrade(container.db)
    async with bootstrap.running(container):
        api = bootstrap.build_api(container)
        transport = httpx.ASGITransport(app=api)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            yield container, client, notifier
