"""Console fixtures: the service as `make run` wires it (SQLite, in-process sandboxes), reached
over ASGI for the HTTP-level tests; browser tests add a real server on a loopback port."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from adapters.db import migrate
from orchestrator import bootstrap
from orchestrator.settings import DEMO_API_KEY, load_settings

OPERATOR_KEY = DEMO_API_KEY
VIEWER_KEY = "demo-viewer-key-sandbox-only"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, "the page has no CSRF field"
    return found.group(1)


async def login(client: httpx.AsyncClient, key: str) -> httpx.Response:
    form = await client.get("/login")
    return await client.post(
        "/login", data={"api_key": key, "csrf_token": csrf_of(form.text), "next": "/"}
    )


@dataclass
class Console:
    container: bootstrap.Container
    client: httpx.AsyncClient


@pytest.fixture
async def console(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Console]:
    monkeypatch.setenv("ORCH_DATABASE__URL", f"sqlite+aiosqlite:///{tmp_path / 'web.db'}")
    monkeypatch.setenv("ORCH_SECURITY__SANDBOX_KEY_FILE", str(tmp_path / "key"))
    container = bootstrap.build(load_settings(Path("config/orchestrator.yaml")))
    await migrate.upgrade(container.db)
    async with bootstrap.running(container):
        assert container.scheduler is not None
        await container.scheduler.wait_idle()
        api = bootstrap.build_api(container)
        transport = httpx.ASGITransport(app=api)
        async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
            yield Console(container, client)
