"""Operator commands over the API: place (Idempotency-Key), cancel, reconcile now, acknowledge."""

from __future__ import annotations

from typing import Any

from orchestrator.settings import DEMO_API_KEY

OPERATOR = {"Authorization": f"Bearer {DEMO_API_KEY}"}
VIEWER = {"Authorization": "Bearer demo-viewer-key-sandbox-only"}
SAMSUNG_CMA = "120260101000000000240001"


async def _ready(container: Any) -> None:
    await container.scheduler.wait_idle()
    if not container.orders.ready:
        await container.orders.recover()


async def test_place_is_idempotent_by_header_and_audited(service: Any) -> None:
    container, client, _ = service
    await _ready(container)
    body = {"symbol": "005930", "side": "buy", "quantity": 1}
    headers = {**OPERATOR, "Idempotency-Key": "api-place-1"}

    first = await client.post("/api/v1/orders", json=body, headers=headers)
    again = await client.post("/api/v1/orders", json=body, headers=headers)
    viewer = await client.post(
        "/api/v1/orders", json=body, headers={**VIEWER, "Idempotency-Key": "v"}
    )

    assert first.status_code == 200, first.text
    assert again.json()["id"] == first.json()["id"]
    assert viewer.status_code == 403
    orders = (await client.get("/api/v1/orders", headers=OPERATOR)).json()
    assert len(orders) == 1
    audit = (await client.get("/api/v1/audit", headers=OPERATOR)).json()
    assert any(a["actor"] == "api:demo-operator" for a in audit), audit


async def test_bad_order_bodies_are_422_naming_the_field_and_write_nothing(service: Any) -> None:
    container, client, _ = service
    await _ready(container)
    headers = {**OPERATOR, "Idempotency-Key": "api-bad"}
    cases = [
        ({"symbol": "12345X", "side": "buy", "quantity": 1}, "symbol"),
        ({"symbol": "005930", "side": "buy", "quantity": 0}, "quantity"),
        ({"symbol": "005930", "side": "buy", "quantity": 10**20}, "quantity"),
        ({"symbol": "005930", "side": "buy", "quantity": 1, "price": "-100"}, "price"),
        ({"symbol": "005930", "side": "buy", "quantity": 1, "price": "70001"}, "price"),
        ({"symbol": "005930", "side": "hold", "quantity": 1}, "side"),
    ]
    for body, field in cases:
        reply = await client.post("/api/v1/orders", json=body, headers=headers)
        assert reply.status_code == 422, (body, reply.text)
        assert field in reply.text, reply.text
    missing_key = await client.post(
        "/api/v1/orders", json={"symbol": "005930", "side": "buy", "quantity": 1}, headers=OPERATOR
    )
    assert missing_key.status_code == 422
    assert "Idempotency-Key" in missing_key.text
    assert (await client.get("/api/v1/orders", headers=OPERATOR)).json() == []


async def test_cancel_reconcile_now_and_acknowledge(service: Any) -> None:
    container, client, _ = service
    await _ready(container)
    placed = await client.post(
        "/api/v1/orders",
        json={"symbol": "005930", "side": "buy", "quantity": 1, "price": "60000"},
        headers={**OPERATOR, "Idempotency-Key": "api-limit-1"},
    )
    assert placed.status_code == 200, placed.text
    cancelled = await client.post(f"/api/v1/orders/{placed.json()['id']}/cancel", headers=OPERATOR)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["cancel_state"] is not None

    await client.post(
        "/sandbox/openbanking/_sandbox/balances",
        json={"fintech_use_num": SAMSUNG_CMA, "balance_amt": 1},
    )
    started = await client.post("/api/v1/reconciliations", headers=OPERATOR)
    assert started.status_code == 200, started.text
    await container.console_reconcile.wait()
    progress = (await client.get(started.json()["progress"], headers=OPERATOR)).json()
    assert progress["status"] == "breaks", progress
    assert progress["run_id"]

    opened = (await client.get("/api/v1/breaks", headers=OPERATOR)).json()
    ack = await client.post(
        f"/api/v1/breaks/{opened[0]['id']}/acknowledge",
        json={"comment": "known: test transfer"},
        headers=OPERATOR,
    )
    empty = await client.post(
        f"/api/v1/breaks/{opened[0]['id']}/acknowledge", json={"comment": ""}, headers=OPERATOR
    )
    assert ack.status_code == 200, ack.text
    assert ack.json()["status"] == "acknowledged"
    assert ack.json()["acknowledged_by"] == "api:demo-operator"
    assert empty.status_code == 422
