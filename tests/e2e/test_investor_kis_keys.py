"""Each investor's reconciliation reads KIS with their own app key (KIS issues one per account).

The KIS sandbox makes investor accounts with their own keys (`POST /_sandbox/investors`); the
API attaches each to a new investor, which registers the account the key opens; reconciliation
then reads that account with that key (its own token, its own rate budget), and the demo
investor keeps reading with the configured key.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from adapters.db.tables import StoredSecretRow
from adapters.kis.per_investor import PerInvestorKisSource
from orchestrator.ports.upstream import CashAndPositionsSource
from orchestrator.settings import DEMO_API_KEY

OPERATOR = {"Authorization": f"Bearer {DEMO_API_KEY}"}


async def test_each_investor_reconciles_with_their_own_kis_key(service: Any) -> None:
    container, api, _ = service
    made = await api.post(
        "/sandbox/kis/_sandbox/investors",
        json={
            "count": 2,
            "cash": 5_000_000,
            "holdings": [{"pdno": "005930", "qty": 3, "avg_price": "70000"}],
        },
    )
    assert made.status_code == 201, made.text
    keys = made.json()["investors"]
    assert len({k["appkey"] for k in keys}) == 2
    for who, key in zip(("kim", "lee"), keys, strict=True):
        assert (
            await api.post("/api/v1/investors", json={"id": who}, headers=OPERATOR)
        ).status_code == 201
        attached = await api.put(
            f"/api/v1/investors/{who}/credentials/kis",
            json={
                "app_key": key["appkey"],
                "app_secret": key["appsecret"],
                "account": key["account"],
            },
            headers=OPERATOR,
        )
        assert attached.status_code == 200, attached.text
        accounts = (await api.get(f"/api/v1/investors/{who}/accounts", headers=OPERATOR)).json()
        assert [(a["id"], a["source"], a["origin"]) for a in accounts] == [
            (f"kis-{who}", "kis", "discovered")
        ]
        assert key["account"] not in str(accounts)  # masked only

    report = await container.reconcile.run_once(trigger="test", users=["kim", "lee", "demo"])

    # Clean: cash, holdings and the broker's order list were all read with each one's own key
    # (with the configured key the order list of their account is OPSQ2000, a stale source).
    assert report.status == "clean", [b.detail for b in report.breaks]
    by_user = {p.user_id: p for p in report.portfolios}
    for who in ("kim", "lee"):
        assert by_user[who].stale_accounts == ()
        assert by_user[who].cash_total == 5_000_000
        assert [p.symbol for p in by_user[who].positions] == ["005930"]
    kis = container.reconcile._sources["kis"]
    assert isinstance(kis, PerInvestorKisSource)
    # Readings take cash and holdings from one pass over the balance pages of each own key.
    assert isinstance(kis, CashAndPositionsSource)
    held = kis.held()
    assert held["kim"] is not None
    assert held["lee"] is not None
    assert held["demo"] is None  # the demo investor reads with the configured key
    # (The sandbox opens an account only to the key it was made with: the reads above could only
    # have come through each investor's own key.) Each key has its own token, under its own
    # fingerprint.
    async with container.db.session() as s:
        names = set((await s.execute(select(col(StoredSecretRow.key)))).scalars())
    for key in keys:
        fingerprint = hashlib.sha256(key["appkey"].encode()).hexdigest()[:12]
        assert f"kis.token.real.{fingerprint}" in names


async def test_an_investors_order_goes_out_with_their_own_key(service: Any) -> None:
    container, api, _ = service
    await container.scheduler.wait_idle()
    if not container.orders.ready:
        await container.orders.recover()
    (key,) = (await api.post("/sandbox/kis/_sandbox/investors", json={"count": 1})).json()[
        "investors"
    ]
    await api.post("/api/v1/investors", json={"id": "kim"}, headers=OPERATOR)
    attached = await api.put(
        "/api/v1/investors/kim/credentials/kis",
        json={"app_key": key["appkey"], "app_secret": key["appsecret"], "account": key["account"]},
        headers=OPERATOR,
    )
    assert attached.status_code == 200, attached.text

    placed = await api.post(
        "/api/v1/orders",
        json={"user": "kim", "symbol": "005930", "side": "buy", "quantity": 1},
        headers={**OPERATOR, "Idempotency-Key": "kim-1"},
    )

    assert placed.status_code == 200, placed.text
    assert placed.json()["state"] in ("accepted", "filled", "partially_filled"), placed.text
    # The sandbox opens that account to that key only: the order went out with kim's key.
    listed = (await api.get("/api/v1/orders", params={"user_id": "kim"}, headers=OPERATOR)).json()
    assert [o["account_id"] for o in listed] == ["kis-kim"]
    held = container.reconcile._sources["kis"].held()
    assert held["kim"] is not None
