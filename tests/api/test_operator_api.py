from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from adapters.db import migrate
from adapters.db.tables import BreakRow, ReconciliationRunRow
from orchestrator import bootstrap
from orchestrator.settings import DEMO_API_KEY, load_settings

VIEWER = {"Authorization": "Bearer demo-viewer-key-sandbox-only"}
OPERATOR = {"Authorization": f"Bearer {DEMO_API_KEY}"}
NOW = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)


@pytest.fixture
async def client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("ORCH_DATABASE__URL", f"sqlite+aiosqlite:///{tmp_path / 'api.db'}")
    monkeypatch.setenv("ORCH_SECURITY__SANDBOX_KEY_FILE", str(tmp_path / "key"))
    container = bootstrap.build(load_settings(Path("config/orchestrator.yaml")))
    await migrate.upgrade(container.db)
    async with container.db.session() as s:
        s.add(
            ReconciliationRunRow(
                id="r1",
                started_at=NOW,
                finished_at=NOW,
                status="breaks",
                break_count=1,
                report={"portfolios": [{"user_id": "demo", "total": "100"}]},
            )
        )
        s.add(
            BreakRow(
                identity="cash_mismatch:kis:cash",
                kind="cash_mismatch",
                user_id="demo",
                account_id="kis",
                key="cash",
                detail="d",
                status="open",
                first_run_id="r1",
                last_run_id="r1",
                first_seen_at=NOW,
                last_seen_at=NOW,
            )
        )
    api = bootstrap.build_api(container)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://t") as c:
        yield c
    await container.close()


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/status",
        "/api/v1/breaks",
        "/api/v1/orders",
        "/api/v1/audit",
        "/api/v1/portfolio",
        "/api/v1/reconciliations",
    ],
)
async def test_unauthenticated_requests_get_401(client: httpx.AsyncClient, path: str) -> None:
    """Every /api/v1 read needs a key."""
    response = await client.get(path)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_unknown_key_gets_401(client: httpx.AsyncClient) -> None:
    """A key that is not configured is refused."""
    response = await client.get("/api/v1/status", headers={"Authorization": "Bearer nope"})

    assert response.status_code == 401


async def test_viewer_reads_but_cannot_mutate(client: httpx.AsyncClient) -> None:
    """A viewer key reads status and gets 403 on a mutation."""
    assert (await client.get("/api/v1/status", headers=VIEWER)).status_code == 200

    response = await client.post(
        "/api/v1/killswitch", headers=VIEWER, json={"on": True, "reason": "x"}
    )

    assert response.status_code == 403


async def test_status_shows_the_last_reconciliation_and_open_breaks(
    client: httpx.AsyncClient,
) -> None:
    """/status reports mode, last run and the open break count from the database."""
    body = (await client.get("/api/v1/status", headers=VIEWER)).json()

    assert body["mode"] == "sandbox"
    assert body["last_reconciliation"]["id"] == "r1"
    assert body["open_breaks"] == 1


async def test_reads_come_from_the_database(client: httpx.AsyncClient) -> None:
    """Breaks, one run with its breaks, and the portfolio are served from stored rows."""
    breaks = (await client.get("/api/v1/breaks", headers=VIEWER)).json()
    run = (await client.get("/api/v1/reconciliations/r1", headers=VIEWER)).json()
    portfolio = (await client.get("/api/v1/portfolio", headers=VIEWER)).json()

    assert [b["kind"] for b in breaks] == ["cash_mismatch"]
    assert run["breaks"][0]["identity"] == "cash_mismatch:kis:cash"
    assert portfolio["total"] == "100"
    assert (await client.get("/api/v1/reconciliations/nope", headers=VIEWER)).status_code == 404


async def test_bad_bodies_and_params_get_4xx_not_5xx(client: httpx.AsyncClient) -> None:
    """Malformed input is a clear 4xx."""
    bad_body = await client.post(
        "/api/v1/killswitch", headers=OPERATOR, json={"on": "maybe", "extra": 1}
    )
    bad_param = await client.get("/api/v1/breaks?status=weird&limit=0", headers=VIEWER)

    assert bad_body.status_code == 422
    assert "on" in bad_body.text
    assert bad_param.status_code == 422


async def test_an_unknown_order_state_is_a_422_naming_the_allowed_ones(
    client: httpx.AsyncClient,
) -> None:
    """`/orders?state=bogus` once answered `[]` (as if there were no orders): now a 422."""
    bogus = await client.get("/api/v1/orders?state=bogus", headers=VIEWER)
    known = await client.get("/api/v1/orders?state=partially_filled", headers=VIEWER)

    assert bogus.status_code == 422
    assert "state" in bogus.text
    for allowed in ("pending_submit", "unknown", "filled", "cancelled", "rejected", "not_found"):
        assert allowed in bogus.text
    assert known.status_code == 200


@pytest.mark.parametrize(
    "query",
    [
        "/api/v1/orders?limit=0",
        "/api/v1/orders?limit=501",
        "/api/v1/orders?offset=-1",
        "/api/v1/orders?offset=99999999999999999999999",
        "/api/v1/audit?limit=abc",
        "/api/v1/reconciliations?offset=1000001",
        "/api/v1/breaks?limit=-5",
        "/api/v1/jobs/runs?limit=100000",
        "/api/v1/workflows/runs?limit=0",
        "/api/v1/investors?limit=0",
    ],
)
async def test_paging_bounds_are_422_never_500(client: httpx.AsyncClient, query: str) -> None:
    reply = await client.get(query, headers=OPERATOR)

    assert reply.status_code == 422, reply.text
    field = query.split("?")[1].split("=")[0]
    assert field in reply.text


async def test_openapi_documents_auth_401_and_403(client: httpx.AsyncClient) -> None:
    """The schema declares bearer auth and the 401/403 answers."""
    spec = (await client.get("/openapi.json")).json()

    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert "401" in spec["paths"]["/api/v1/status"]["get"]["responses"]
    assert "403" in spec["paths"]["/api/v1/killswitch"]["post"]["responses"]


async def test_metrics_endpoint_serves_prometheus_text(client: httpx.AsyncClient) -> None:
    """/metrics answers in the Prometheus exposition format."""
    response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
