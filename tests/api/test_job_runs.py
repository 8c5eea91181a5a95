"""The jobs run history over the API: the list is counts only, whatever a fire fanned out to; one
run's per-investor outcomes are read a page at a time from its own route."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from adapters.db import migrate
from adapters.db.jobs import DbJobRunStore
from orchestrator import bootstrap
from orchestrator.api.schemas import JobRunItemOut, JobRunOut
from orchestrator.domain.timeutil import KST, to_utc
from orchestrator.ports.scheduling import ItemOutcome
from orchestrator.settings import DEMO_API_KEY, DEMO_VIEWER_KEY, load_settings
from tests.support.fires import record_fire

VIEWER = {"Authorization": f"Bearer {DEMO_VIEWER_KEY}"}
OPERATOR = {"Authorization": f"Bearer {DEMO_API_KEY}"}
# A KRX trading day, in the session: the intraday reconciliation's next fire is 10:05.
FIRE = datetime(2026, 6, 4, 10, 0, tzinfo=KST)
UPKEEP = datetime(2026, 6, 4, 10, 30, tzinfo=KST)
INVESTORS = 120
FAILED = {f"inv-{i:04d}" for i in range(0, INVESTORS, 7)}


@dataclass
class Api:
    client: httpx.AsyncClient
    store: DbJobRunStore


def _detail_path(job_id: str, scheduled_for: str) -> str:
    return f"/api/v1/jobs/runs/{job_id}/{quote(scheduled_for, safe='')}"


@pytest.fixture
async def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Api]:
    monkeypatch.setenv("ORCH_DATABASE__URL", f"sqlite+aiosqlite:///{tmp_path / 'runs.db'}")
    monkeypatch.setenv("ORCH_SECURITY__SANDBOX_KEY_FILE", str(tmp_path / "key"))
    container = bootstrap.build(load_settings(Path("config/orchestrator.yaml")))
    await migrate.upgrade(container.db)
    # The scheduler's read side, not started: the run history is what the store holds.
    container.scheduler = bootstrap.build_scheduler(container)
    store = DbJobRunStore(container.db)

    # A reconciliation fanned out to 120 investors, finished before its next fire.
    def outcome(i: int) -> ItemOutcome:
        investor = f"inv-{i:04d}"
        failed = investor in FAILED
        return ItemOutcome(
            investor=investor,
            kind="reconcile",
            status="failed" if failed else "succeeded",
            finished_at=FIRE + timedelta(seconds=30),
            duration_ms=40 + i,
            attempts=2 if failed else 1,
            worker="replica-a",
            detail="kis: refused for account 12345678901234" if failed else "clean",
        )

    # Recorded out of order: the pages are by investor.
    await record_fire(
        store, "reconcile-intraday", FIRE, (outcome(i) for i in reversed(range(INVESTORS)))
    )
    # An upkeep run that did not fan out and ran past its next fire (a minute later).
    assert await store.claim("orders-upkeep", UPKEEP, "replica-b", started_at=UPKEEP)
    await store.finish(
        "orders-upkeep",
        UPKEEP,
        status="succeeded",
        finished_at=UPKEEP + timedelta(minutes=3),
        duration_ms=180_000,
    )
    app = bootstrap.build_api(container)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        yield Api(c, store)
    await container.close()


async def _listed(api: Api) -> dict[str, dict[str, Any]]:
    reply = await api.client.get("/api/v1/jobs/runs", headers=VIEWER)
    assert reply.status_code == 200, reply.text
    return {r["job_id"]: r for r in reply.json()}


async def test_the_runs_list_carries_counts_and_no_per_investor_outcome(api: Api) -> None:
    runs = await _listed(api)

    recon, upkeep = runs["reconcile-intraday"], runs["orders-upkeep"]
    failed = len(FAILED)
    assert recon["progress"] == {"total": INVESTORS, "done": INVESTORS - failed, "failed": failed}
    assert (recon["engine"], recon["overran"], recon["status"]) == ("in-process", False, "failed")
    assert recon["error"] == f"{failed} of {INVESTORS} investors failed"
    assert upkeep["progress"] is None
    assert upkeep["overran"] is True  # finished 10:33, its next fire was 10:31
    for run in runs.values():
        # Only declared fields: no `investors` or `items` list rides along (Out allows extras).
        assert set(run) <= set(JobRunOut.model_fields), set(run) - set(JobRunOut.model_fields)
        assert "inv-0000" not in str(run)


async def test_one_runs_outcomes_are_paged_by_investor(api: Api) -> None:
    key = (await _listed(api))["reconcile-intraday"]["scheduled_for"]
    path = _detail_path("reconcile-intraday", key)
    everyone = [f"inv-{i:04d}" for i in range(INVESTORS)]

    first = (await api.client.get(path, params={"limit": 50}, headers=VIEWER)).json()
    last = (await api.client.get(path, params={"limit": 50, "offset": 100}, headers=VIEWER)).json()

    assert first["job_id"] == "reconcile-intraday"
    assert first["scheduled_for"] == key
    assert first["progress"]["total"] == INVESTORS
    assert first["overran"] is False
    assert [o["investor"] for o in first["investors"]] == everyone[:50]
    assert first["page"] == {
        "limit": 50,
        "offset": 0,
        "status": None,
        "matching": INVESTORS,
        "next_offset": 50,
    }
    assert [o["investor"] for o in last["investors"]] == everyone[100:]
    assert last["page"]["next_offset"] is None
    shown = first["investors"][1]
    assert set(shown) <= set(JobRunItemOut.model_fields)
    assert shown == {
        "investor": "inv-0001",
        "kind": "reconcile",
        "status": "succeeded",
        "finished_at": to_utc(FIRE + timedelta(seconds=30)).isoformat(),
        "duration_ms": 41,
        "attempts": 1,
        "worker": "replica-a",
        "detail": "clean",
    }
    # A vendor's message quoting an account number is shown masked.
    (zero,) = [o for o in first["investors"] if o["investor"] == "inv-0000"]
    assert "12345678901234" not in zero["detail"]
    assert zero["detail"].startswith("kis: refused for account ")


async def test_the_outcomes_filter_keeps_the_failed_or_the_succeeded(api: Api) -> None:
    path = _detail_path("reconcile-intraday", to_utc(FIRE).isoformat())

    failed = (
        await api.client.get(path, params={"status": "failed", "limit": 500}, headers=VIEWER)
    ).json()
    ok = (
        await api.client.get(
            path, params={"status": "succeeded", "limit": 10, "offset": 10}, headers=VIEWER
        )
    ).json()

    assert [o["investor"] for o in failed["investors"]] == sorted(FAILED)
    assert {o["status"] for o in failed["investors"]} == {"failed"}
    assert failed["page"]["matching"] == len(FAILED)
    assert failed["page"]["next_offset"] is None
    succeeded = sorted(f"inv-{i:04d}" for i in range(INVESTORS) if f"inv-{i:04d}" not in FAILED)
    assert [o["investor"] for o in ok["investors"]] == succeeded[10:20]
    assert ok["page"]["matching"] == INVESTORS - len(FAILED)
    assert ok["page"]["next_offset"] == 20


@pytest.mark.parametrize(
    "written",
    ["2026-06-04T01:00:00Z", "2026-06-04T01:00:00+00:00", "2026-06-04T10:00:00+09:00"],
)
async def test_the_run_is_found_by_its_instant_in_any_offset(api: Api, written: str) -> None:
    reply = await api.client.get(_detail_path("reconcile-intraday", written), headers=VIEWER)

    assert reply.status_code == 200, reply.text
    assert reply.json()["page"]["matching"] == INVESTORS


async def test_a_run_that_did_not_fan_out_has_no_outcomes(api: Api) -> None:
    reply = await api.client.get(_detail_path("orders-upkeep", UPKEEP.isoformat()), headers=VIEWER)

    body = reply.json()
    assert reply.status_code == 200
    assert (body["progress"], body["investors"], body["overran"]) == (None, [], True)
    assert body["page"]["matching"] == 0


async def test_an_unknown_run_is_a_404_in_the_error_shape(api: Api) -> None:
    later = (FIRE + timedelta(minutes=5)).isoformat()
    for path in (
        _detail_path("reconcile-intraday", later),
        _detail_path("no-such-job", FIRE.isoformat()),
    ):
        reply = await api.client.get(path, headers=VIEWER)
        assert reply.status_code == 404, path
        body = reply.json()
        assert set(body) == {"detail", "error"}
        assert body["error"] == "NotFound"


@pytest.mark.parametrize(
    ("written", "params"),
    [
        ("yesterday", {}),
        ("2026-06-04T01:00:00", {}),  # naive: which instant?
        ("1780534800", {}),  # a bare number is not an ISO 8601 time
        ("2026-13-04T01:00:00+00:00", {}),
        ("0001-01-01T00:00:00+14:00", {}),  # before year 1 in UTC
        ("2026-06-04T01:00:00+00:00", {"status": "running"}),
        ("2026-06-04T01:00:00+00:00", {"limit": 0}),
        ("2026-06-04T01:00:00+00:00", {"limit": 501}),
        ("2026-06-04T01:00:00+00:00", {"offset": -1}),
        ("2026-06-04T01:00:00+00:00", {"page": 2}),  # undeclared
    ],
)
async def test_bad_keys_and_params_are_a_422_in_the_error_shape(
    api: Api, written: str, params: dict[str, Any]
) -> None:
    reply = await api.client.get(
        _detail_path("reconcile-intraday", written), params=params, headers=VIEWER
    )

    assert reply.status_code == 422, reply.text
    body = reply.json()
    assert set(body) == {"detail", "error"}
    assert body["error"] == "InvalidRequest"
    assert (next(iter(params)) if params else "scheduled_for") in body["detail"]


async def test_the_detail_needs_a_viewer_key(api: Api) -> None:
    path = _detail_path("reconcile-intraday", FIRE.isoformat())

    assert (await api.client.get(path)).status_code == 401
    assert (await api.client.get(path, headers=OPERATOR)).status_code == 200


async def test_the_openapi_declares_the_counts_and_the_paged_detail(api: Api) -> None:
    schema = (await api.client.get("/openapi.json")).json()
    models = schema["components"]["schemas"]

    run = models["JobRunOut"]["properties"]
    for name in ("engine", "progress", "overran"):
        assert run[name].get("description"), name
    assert "investors" not in run
    progress = models["JobProgressOut"]["properties"]
    assert {n: p["type"] for n, p in progress.items()} == {
        "total": "integer",
        "done": "integer",
        "failed": "integer",
    }
    assert all(p.get("description") for p in progress.values())
    detail = schema["paths"]["/api/v1/jobs/runs/{job_id}/{scheduled_for}"]["get"]
    ok = detail["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/JobRunDetailOut"}
    assert {"404", "422"} <= set(detail["responses"])
    params = {p["name"]: p for p in detail["parameters"]}
    assert params["scheduled_for"]["schema"]["format"] == "date-time"
    assert set(params) == {"job_id", "scheduled_for", "status", "limit", "offset"}
