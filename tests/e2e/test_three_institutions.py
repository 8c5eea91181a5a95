"""One investor at Samsung (open banking), KIS and Kiwoom: orders go to the account's broker,
reconciliation covers all three, and a break injected at Kiwoom is found and resolved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from orchestrator.domain.model import BreakKind, OrderState, OrderType, Side
from orchestrator.services.orders import OrderRequest
from orchestrator.settings import DEMO_API_KEY

OPERATOR = {"Authorization": f"Bearer {DEMO_API_KEY}"}


async def _sandbox(container: Any, name: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=container.sandbox_apps[name]), base_url="http://sbx"
    )


async def test_reconcile_three_institutions_then_a_kiwoom_break(service: Any) -> None:
    container, client, _ = service
    await container.orders.recover()
    accounts = {ref.account_id: ref for _, ref in await container.directory.accounts("demo")}
    assert {ref.institution.name for ref in accounts.values()} == {
        "SAMSUNG_SECURITIES",
        "KIS",
        "KIWOOM",
    }
    trading = [a.account_id for a in await container.directory.trading_accounts("demo")]
    assert trading == ["kis-main", "kiwoom-main"]

    kiwoom = await container.directory.trading_account("demo", "kiwoom-main")
    record = await container.orders.place(
        OrderRequest(
            idempotency_key="three-1",
            account=kiwoom,
            symbol="005930",
            side=Side.BUY,
            quantity=2,
            order_type=OrderType.MARKET,
        )
    )
    assert record.broker == "kiwoom"
    assert record.state is OrderState.ACCEPTED
    state = container.sandbox_apps["kiwoom"].state.kiwoom
    assert [(o.stk_cd, o.qty) for o in state.orders] == [("005930", 2)]
    assert container.sandbox_apps["kis"].state.broker.book.orders == []
    await container.orders.sync_fills(kiwoom)

    first = await container.reconcile.run_once(trigger="test")
    assert first.status == "clean", first.breaks
    listed = (await client.get("/api/v1/orders", headers=OPERATOR)).json()
    assert [o.get("broker") for o in listed] == ["kiwoom"]

    async with await _sandbox(container, "kiwoom") as sandbox:
        moved = await sandbox.post(
            "/_sandbox/cash", json={"account": kiwoom.external_ref, "delta": -50_000}
        )
        assert moved.status_code == 200
        second = await container.reconcile.run_once(trigger="test")
        assert second.status == "breaks"
        assert [(b.kind, b.account_id) for b in second.breaks] == [
            (BreakKind.CASH_MISMATCH, "kiwoom-main")
        ]
        await sandbox.post("/_sandbox/cash", json={"account": kiwoom.external_ref, "delta": 50_000})
    third = await container.reconcile.run_once(trigger="test")
    assert third.status == "clean"
    resolved = (await client.get("/api/v1/breaks?status=resolved", headers=OPERATOR)).json()
    assert [(b["kind"], b["account_id"]) for b in resolved] == [
        (BreakKind.CASH_MISMATCH.value, "kiwoom-main")
    ]


def test_nothing_under_orchestrator_names_the_second_broker() -> None:
    """The core stays vendor-free: adding Kiwoom touched adapters/ and config only."""
    offenders = [
        str(path)
        for path in sorted(Path("orchestrator").rglob("*"))
        if path.is_file()
        and path.suffix in {".py", ".html", ".js", ".css", ".yaml", ".toml", ".txt", ".j2"}
        and "kiwoom" in path.read_text(encoding="utf-8").lower()
    ]
    assert offenders == []
