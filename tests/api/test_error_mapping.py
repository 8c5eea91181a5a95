"""One mapping from domain errors to HTTP (orchestrator/api/errors.py), and declared response
models on every operator route (the OpenAPI shows schemas, not `object`)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from orchestrator import bootstrap
from orchestrator.api.errors import install_error_mapping
from orchestrator.domain.errors import (
    AuthError,
    ConfigError,
    GuardrailViolation,
    IntegrityError,
    InvalidRequest,
    NotFound,
    OrchestratorError,
    OrderRejected,
    RateLimited,
    StateConflict,
)
from orchestrator.services.orders import IdempotencyConflict, OrdersNotReady, UnknownIntent
from orchestrator.workflows.runner import RunNotAwaitingApproval, RunNotFound

CASES: list[tuple[OrchestratorError, int]] = [
    (NotFound("no break 7"), 404),
    (RunNotFound("no workflow run 'x'"), 404),
    (UnknownIntent("no intent"), 404),
    (StateConflict("already resolved"), 409),
    (RunNotAwaitingApproval("not awaiting"), 409),
    (IdempotencyConflict("key used"), 409),
    (GuardrailViolation("kill_switch", "on"), 409),
    (InvalidRequest("comment: must not be empty"), 422),
    (OrderRejected("kis", "no cash", code="APBK0013"), 422),
    (OrdersNotReady("order recovery running; retry later", retry_after=5), 503),
    (RateLimited("kis", "EGW00201", retry_after=1.2), 503),
    (AuthError("kis", "bad key"), 502),
    (ConfigError("bad"), 503),
    (IntegrityError("chain broken"), 500),
]


@pytest.mark.parametrize(("error", "status"), CASES, ids=lambda v: type(v).__name__)
async def test_each_domain_error_has_one_status(error: OrchestratorError, status: int) -> None:
    app = FastAPI()
    install_error_mapping(app)

    @app.get("/boom")
    async def boom() -> None:
        raise error

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        reply = await client.get("/boom")

    assert reply.status_code == status
    assert reply.json() == {"detail": str(error), "error": type(error).__name__}
    if status == 503 and not isinstance(error, ConfigError):
        assert int(reply.headers["Retry-After"]) >= 1


def test_every_operator_route_declares_its_response_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORCH_DATABASE__URL", f"sqlite+aiosqlite:///{tmp_path / 'o.db'}")
    monkeypatch.setenv("ORCH_SECURITY__SANDBOX_KEY_FILE", str(tmp_path / "key"))
    container = bootstrap.build(
        bootstrap.load(Path("config/orchestrator.yaml"), configure_logs=False)
    )
    spec = bootstrap.build_api(container).openapi()
    checked = 0
    for path, methods in spec["paths"].items():
        if not path.startswith("/api/v1"):
            continue
        for method, op in methods.items():
            if "204" in op["responses"] and not {"200", "201"} & set(op["responses"]):
                # No Content: the declared reply is the absence of a body.
                assert "content" not in op["responses"]["204"], f"{method.upper()} {path}"
                continue
            ok = op["responses"].get("200") or op["responses"].get("201") or {}
            schema = ok.get("content", {}).get("application/json", {}).get("schema", {})
            target = schema.get("items", schema)
            assert "$ref" in target or "anyOf" in target, f"{method.upper()} {path}: {schema}"
            checked += 1
    assert checked >= 15
