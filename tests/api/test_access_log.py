"""The access log (one `http.request` line per request) and the quieted library chatter."""

from __future__ import annotations

import hashlib
import io
import json
import logging
from typing import Any

import httpx
import structlog
from fastapi import APIRouter, Depends, FastAPI
from structlog.testing import capture_logs

from orchestrator.api.app import create_api
from orchestrator.api.auth import ApiKey, authenticator
from orchestrator.logging import configure_logging

SECRET = "op-key-for-the-access-log-test-0001"
KEYS = (ApiKey("ops-alice", "operator", hashlib.sha256(SECRET.encode()).hexdigest()),)


def _app() -> FastAPI:
    router = APIRouter(prefix="/api/v1")
    operator = Depends(authenticator(KEYS)("operator"))

    @router.get("/orders/{intent_id}", dependencies=[operator])
    async def one(intent_id: str) -> dict[str, str]:
        return {"id": intent_id}

    @router.get("/boom")
    async def boom() -> dict[str, str]:
        raise RuntimeError("a bug")

    api = create_api(readiness={}, routers=[router], keys=KEYS)
    mounted = FastAPI()

    @mounted.post("/oauth2/token")
    async def token() -> dict[str, str]:
        return {"access_token": "x"}

    api.mount("/sandbox/kis", mounted)
    return api


async def _requests(*calls: tuple[str, str, dict[str, str]]) -> list[dict[str, Any]]:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    with capture_logs() as logs:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for method, path, headers in calls:
                await client.request(method, path, headers=headers)
    return [e for e in logs if e["event"] == "http.request"]


async def test_one_line_per_request_with_template_status_ms_and_key_id() -> None:
    bearer = {"Authorization": f"Bearer {SECRET}"}
    lines = await _requests(
        ("GET", "/api/v1/orders/oi-123", bearer),
        ("GET", "/api/v1/orders/oi-123", {"Authorization": "Bearer not-a-key"}),
        ("GET", "/api/v1/orders/oi-123", {}),
        ("GET", "/api/v1/boom", {}),
        ("POST", "/sandbox/kis/oauth2/token", {}),
        ("GET", "/wp-admin/../etc/passwd", {}),
    )

    assert [(e["method"], e["route"], e["status"], e["principal"]) for e in lines] == [
        ("GET", "/api/v1/orders/{intent_id}", 200, "ops-alice"),
        ("GET", "/api/v1/orders/{intent_id}", 401, "unknown"),
        ("GET", "/api/v1/orders/{intent_id}", 401, None),
        ("GET", "/api/v1/boom", 500, None),
        ("POST", "/sandbox/kis/oauth2/token", 200, None),
        ("GET", "(unmatched)", 404, None),
    ]
    assert all(isinstance(e["ms"], float) and e["ms"] >= 0 for e in lines)
    assert SECRET not in repr(lines)
    assert "oi-123" not in repr(lines)  # the template, never the path's ids


async def test_the_line_survives_the_masking_pipeline_with_the_key_name() -> None:
    """Through the real log pipeline (which masks fields named like keys) the key's name shows."""
    stream = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure_logging("INFO", "json", stream=stream)
    try:
        transport = httpx.ASGITransport(app=_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            await client.get("/api/v1/orders/oi-1", headers={"Authorization": f"Bearer {SECRET}"})
    finally:
        structlog.reset_defaults()
        root.handlers[:], level = saved
        root.setLevel(level)
    [line] = [json.loads(x) for x in stream.getvalue().splitlines() if "http.request" in x]

    assert line["principal"] == "ops-alice"
    assert line["route"] == "/api/v1/orders/{intent_id}"
    assert SECRET not in stream.getvalue()


def test_apscheduler_and_alembic_chatter_stays_below_info() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure_logging("INFO", "json", stream=stream)
    try:
        logging.getLogger("apscheduler.scheduler").info('Added job "x" to job store "default"')
        logging.getLogger("alembic.runtime.migration").info("Context impl SQLiteImpl.")
        logging.getLogger("apscheduler.executors.default").warning("Run time of job was missed")
        logging.getLogger("orchestrator.test").info("kept")
    finally:
        structlog.reset_defaults()
        root.handlers[:], level = saved
        root.setLevel(level)
    events = [json.loads(line)["event"] for line in stream.getvalue().splitlines()]

    assert events == ["Run time of job was missed", "kept"]
