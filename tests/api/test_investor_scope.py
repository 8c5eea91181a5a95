"""The `investor` role: a key bound to one investor sees that investor only, on every route.

The walk reads the app's own route table, so a route added later is walked too: it must either
refuse an investor key (403: `require("viewer")` does) or be listed in SCOPED below, where it is
called with the other investor's ids and must answer 404 or a body without any of their data.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlmodel import col

from adapters.db import migrate
from adapters.db.tables import BreakRow, OrderIntentRow, ReconciliationRunRow
from orchestrator import bootstrap
from orchestrator.settings import DEMO_VIEWER_KEY, ApiKeySettings, LoadedSettings, load_settings
from orchestrator.web.sessions import COOKIE
from tests.web.conftest import VIEWER_KEY, login

NOW = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
ALICE, BOB = "alice-2c9d", "bob-7f3e"
# Bob's records all carry one of these (his display name, account name, break detail, order
# origin, portfolio total); Alice never sends them, so an echo of her input cannot match.
BOB_MARKERS = ("Bobmarker", "987654321")
NAMES = {ALICE: "Alicemarker", BOB: "Bobmarker"}
KEYS = {ALICE: "alice-investor-key-test-only", BOB: "bob-investor-key-test-only"}
VIEWER = {"Authorization": f"Bearer {DEMO_VIEWER_KEY}"}
AS_ALICE = {"Authorization": f"Bearer {KEYS[ALICE]}"}

# Routes an investor key may call, each scoping its reads to the key's investor.
SCOPED = {
    ("GET", "/api/v1/portfolio"),
    ("GET", "/api/v1/orders"),
    ("GET", "/api/v1/breaks"),
    ("GET", "/api/v1/investors"),
    ("GET", "/api/v1/investors/{investor_id}"),
    ("GET", "/api/v1/investors/{investor_id}/accounts"),
    ("GET", "/api/v1/investors/{investor_id}/consent"),
    ("GET", "/api/v1/investors/{investor_id}/view"),
}
# Every other /api/ route must refuse an investor key (403). Routes outside /api (health, docs,
# metrics, the consent callback whose credential is its single-use state, the console whose
# login refuses investor keys) are walked too: whatever they answer must not carry Bob's data.


@dataclass
class World:
    app: FastAPI
    client: httpx.AsyncClient
    bob_break: int


def _with_investor_keys(loaded: LoadedSettings) -> LoadedSettings:
    keys = tuple(
        ApiKeySettings(
            name=f"{who}-key",
            role="investor",
            sha256=hashlib.sha256(key.encode()).hexdigest(),
            investor=who,
        )
        for who, key in KEYS.items()
    )
    settings = loaded.settings
    api = settings.api.model_copy(update={"keys": settings.api.keys + keys})
    return LoadedSettings(settings.model_copy(update={"api": api}), loaded.source)


def _order(who: str, n: int) -> OrderIntentRow:
    return OrderIntentRow(
        id=f"oi-{who}-{n}",
        idempotency_key=f"k-{who}-{n}",
        user_id=who,
        account_id=f"{who}-kis",
        broker="kis",
        symbol="005930",
        side="buy",
        quantity=1,
        order_type="market",
        state="filled",
        origin=f"manual {NAMES[who]}",
        created_at=NOW,
        updated_at=NOW,
    )


def _break(who: str) -> BreakRow:
    return BreakRow(
        identity=f"cash_mismatch:{who}-kis:cash",
        open_key=f"{who}:cash_mismatch:{who}-kis:cash",
        kind="cash_mismatch",
        user_id=who,
        account_id=f"{who}-kis",
        key="cash",
        detail=f"cash of {NAMES[who]}",
        status="open",
        first_run_id="r1",
        last_run_id="r1",
        first_seen_at=NOW,
        last_seen_at=NOW,
    )


@pytest.fixture
async def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    monkeypatch.setenv("ORCH_DATABASE__URL", f"sqlite+aiosqlite:///{tmp_path / 'scope.db'}")
    monkeypatch.setenv("ORCH_SECURITY__SANDBOX_KEY_FILE", str(tmp_path / "key"))
    settings = _with_investor_keys(load_settings(Path("config/orchestrator.yaml")))
    container = bootstrap.build(settings)
    await migrate.upgrade(container.db)
    for who, name in NAMES.items():
        await container.investors.create(who, name, actor="test")
        await container.investors.add_account(
            who, account_id=f"{who}-kis", source="kis", actor="test", name=f"{name} KIS"
        )
    async with container.db.session() as s:
        s.add(
            ReconciliationRunRow(
                id="r1",
                started_at=NOW,
                finished_at=NOW,
                status="breaks",
                break_count=2,
                report={
                    "portfolios": [
                        {"user_id": ALICE, "total": "100"},
                        {"user_id": BOB, "total": "987654321"},
                    ]
                },
            )
        )
        for who in (ALICE, BOB):
            s.add(_order(who, 1))
            s.add(_break(who))
    async with container.db.session() as s:
        found = await s.execute(select(col(BreakRow.id)).where(col(BreakRow.user_id) == BOB))
        bob_break = found.scalar_one()
    assert bob_break is not None
    app = bootstrap.build_api(container)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        yield World(app, c, bob_break)
    await container.close()


def _path_for(path: str, who: str, break_id: int) -> str:
    """The route's path with every parameter naming something of `who`'s."""
    values = {
        "investor_id": who,
        "account_id": f"{who}-kis",
        "institution": "kis",
        "user_id": who,
        "intent_id": f"oi-{who}-1",
        "break_id": str(break_id),
        "run_id": "r1",
        "action": "trigger",
        "decision": "approve",
    }
    return re.sub(r"\{([^}:]+)(?::[^}]+)?\}", lambda m: values.get(m.group(1), f"{who}-1"), path)


def _walk(routes: Iterable[Any]) -> Iterator[tuple[str, str]]:
    """(method, path) of every HTTP route, through included routers (FastAPI keeps those as
    branches of the table; each leaf carries its full path and the route it came from)."""
    for route in routes:
        if hasattr(route, "effective_candidates"):
            yield from _walk(route.effective_candidates())
            continue
        leaf = getattr(route, "original_route", route)
        for method in sorted(getattr(leaf, "methods", None) or ()):
            if method != "HEAD":
                yield method, route.path


def _routes(app: FastAPI) -> list[tuple[str, str]]:
    found = sorted(set(_walk(app.routes)))
    assert len(found) > 40  # the walk would prove nothing if the table came back empty
    assert ("GET", "/api/v1/investors/{investor_id}") in found
    return found


def _leaks(text: str) -> list[str]:
    return [m for m in BOB_MARKERS if m in text]


async def test_every_route_refuses_or_scopes_an_investor_key(world: World) -> None:
    client = world.client
    walked: set[tuple[str, str]] = set()
    for method, template in _routes(world.app):
        walked.add((method, template))
        path = _path_for(template, BOB, world.bob_break)
        for params in ({}, {"user_id": BOB}):
            kwargs: dict[str, object] = {"headers": AS_ALICE, "params": params}
            if method in ("POST", "PUT", "PATCH"):
                kwargs["json"] = {}
            reply = await client.request(method, path, **kwargs)  # type: ignore[arg-type]
            where = f"{method} {template} {params}"
            assert reply.status_code != 500, f"{where}: {reply.text[:200]}"
            assert not _leaks(reply.text), f"{where} shows Bob's data to Alice: {reply.text[:300]}"
            if (method, template) in SCOPED:
                # A scoped route that declares no user_id refuses the extra one (422, strict
                # query); one that declares it answers Alice's own data or a 404.
                allowed = (200, 404, 422) if params else (200, 404)
                assert reply.status_code in allowed, f"{where}: {reply.status_code}"
            elif template.startswith("/api/"):
                # With the extra user_id a route that takes none may refuse it first (422).
                refusals = (403, 422) if params else (403,)
                assert reply.status_code in refusals, f"{where}: got {reply.status_code}"
    assert walked >= SCOPED, f"SCOPED lists routes the app does not have: {SCOPED - walked}"


async def test_scoped_routes_show_the_key_its_own_investor(world: World) -> None:
    """The control: the same routes do answer Alice her own data (and a viewer sees Bob's), so
    the walk above would notice a scoping that returned everyone's."""
    client = world.client
    own = {
        "/api/v1/portfolio": "100",
        "/api/v1/orders": f"oi-{ALICE}-1",
        "/api/v1/breaks": f"{ALICE}-kis",
        "/api/v1/investors": "Alicemarker",
        f"/api/v1/investors/{ALICE}": "Alicemarker KIS",
        f"/api/v1/investors/{ALICE}/accounts": f"{ALICE}-kis",
        f"/api/v1/investors/{ALICE}/view": "Alicemarker KIS",
    }
    for path, expected in own.items():
        reply = await client.get(path, headers=AS_ALICE)
        assert reply.status_code == 200, f"{path}: {reply.text}"
        assert expected in reply.text, path
        assert not _leaks(reply.text), path
    assert (await client.get("/api/v1/portfolio", headers=AS_ALICE)).json()["user_id"] == ALICE
    for path in (
        "/api/v1/orders",
        "/api/v1/breaks",
        "/api/v1/investors",
        f"/api/v1/investors/{BOB}",
    ):
        assert _leaks((await client.get(path, headers=VIEWER)).text), path
    assert (await client.get(f"/api/v1/investors/{BOB}", headers=AS_ALICE)).status_code == 404
    # Another investor's id is answered exactly like one that does not exist.
    unknown = await client.get("/api/v1/investors/nobody-at-all", headers=AS_ALICE)
    other = await client.get(f"/api/v1/investors/{BOB}", headers=AS_ALICE)
    assert unknown.status_code == other.status_code == 404
    assert unknown.json() == other.json()


def test_an_investor_key_must_name_its_investor() -> None:
    digest = hashlib.sha256(b"x").hexdigest()
    with pytest.raises(ValueError, match="investor"):
        ApiKeySettings(name="k", role="investor", sha256=digest)
    with pytest.raises(ValueError, match="investor"):
        ApiKeySettings(name="k", role="viewer", sha256=digest, investor=ALICE)


async def test_the_console_refuses_an_investor_key(world: World) -> None:
    """The console lists every investor: an investor key gets no session at all."""
    reply = await login(world.client, KEYS[ALICE])
    assert reply.status_code == 200  # the form again, with the reason
    assert "investor key cannot use the operator console" in reply.text
    assert COOKIE not in reply.headers.get("set-cookie", "")
    assert (await login(world.client, VIEWER_KEY)).status_code == 303  # the control
