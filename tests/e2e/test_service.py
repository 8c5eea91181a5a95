"""The main job end to end on the embedded default: SQLite, both sandboxes in-process, scheduler
and operator API, as `make run` starts it."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import pytest

from orchestrator import bootstrap
from orchestrator.domain.model import BreakKind, OrderType, Side
from orchestrator.settings import DEMO_API_KEY

OPERATOR = {"Authorization": f"Bearer {DEMO_API_KEY}"}
SAMSUNG_CMA = "120260101000000000240001"


async def _wait_for_reconciliation(
    container: bootstrap.Container, client: httpx.AsyncClient
) -> dict[str, Any]:
    assert container.scheduler is not None
    await container.scheduler.wait_idle()  # the start-up run, triggered on the scheduler
    status: dict[str, Any] = (await client.get("/api/v1/status", headers=OPERATOR)).json()
    assert status["last_reconciliation"] is not None, "no reconciliation after start-up"
    return status


async def test_start_up_reconciles_every_institution(service: Any) -> None:
    """After start, /status shows a finished clean reconciliation and the portfolio shows every
    institution of the demo investor (Samsung, KIS and the Kiwoom account), named by broker."""
    container, client, _ = service

    status = await _wait_for_reconciliation(container, client)
    portfolio = (await client.get("/api/v1/portfolio", headers=OPERATOR)).json()

    assert status["last_reconciliation"]["status"] == "clean"
    assert status["scheduler_running"] is True
    assert set(portfolio["cash_by_institution"]) == {"kis", "kiwoom", "samsung_securities"}
    assert (await client.get("/readyz")).status_code == 200


async def test_a_change_behind_our_back_opens_a_break_alerts_once_and_resolves(
    service: Any,
) -> None:
    """A Samsung balance change nobody recorded is a cash break with one alert, resolved later."""
    container, client, notifier = service
    await _wait_for_reconciliation(container, client)
    relay = "/sandbox/openbanking/_sandbox/balances"

    changed = await client.post(relay, json={"fintech_use_num": SAMSUNG_CMA, "balance_amt": 1})
    assert changed.status_code == 200
    first = await container.reconcile.run_once(trigger="test")
    second = await container.reconcile.run_once(trigger="test")
    breaks = (await client.get("/api/v1/breaks", headers=OPERATOR)).json()

    assert first.status == "breaks"
    assert [b["kind"] for b in breaks] == [BreakKind.CASH_MISMATCH.value]
    cash_alerts = [a for a in notifier.sent if "cash_mismatch" in a.key]
    assert len(cash_alerts) == 1
    assert second.status == "breaks"

    restored = await client.post(
        relay, json={"fintech_use_num": SAMSUNG_CMA, "balance_amt": 15234870}
    )
    assert restored.status_code == 200
    third = await container.reconcile.run_once(trigger="test")

    assert third.status == "clean"
    assert (await client.get("/api/v1/breaks", headers=OPERATOR)).json() == []
    resolved = (await client.get("/api/v1/breaks?status=resolved", headers=OPERATOR)).json()
    assert [b["kind"] for b in resolved] == [BreakKind.CASH_MISMATCH.value]


async def test_kill_switch_over_the_api_stops_orders(service: Any) -> None:
    """POST /killswitch (operator) stops every order; the refusal names the kill switch."""
    from orchestrator.domain.errors import GuardrailViolation
    from orchestrator.services.orders import OrderRequest

    container, client, _ = service
    await _wait_for_reconciliation(container, client)
    on = await client.post(
        "/api/v1/killswitch", headers=OPERATOR, json={"on": True, "reason": "drill"}
    )
    account = await container.directory.trading_account("demo")

    with pytest.raises(GuardrailViolation, match="kill_switch"):
        await container.orders.place(
            OrderRequest(
                idempotency_key="e2e-1",
                account=account,
                symbol="005930",
                side=Side.BUY,
                quantity=1,
                order_type=OrderType.MARKET,
            )
        )

    assert on.json()["on"] is True
    audit = (await client.get("/api/v1/audit", headers=OPERATOR)).json()
    assert any(a["action"].startswith("killswitch") for a in audit)


async def test_the_embedded_default_runs_investor_tasks_in_process(service: Any) -> None:
    """On SQLite the start-up reconciliation fanned out per investor and ran here: no queue
    server, no worker process; /jobs/runs shows its progress and each investor's outcome."""
    container, client, _ = service
    await _wait_for_reconciliation(container, client)
    assert container.task_app is None
    assert container.engine is not None
    assert container.engine.name == "in-process"

    runs = (await client.get("/api/v1/jobs/runs", headers=OPERATOR)).json()
    recon = next(r for r in runs if r["job_id"] == "reconcile-intraday")
    investors = [u.id for u in container.settings.users]
    assert recon["engine"] == "in-process"
    assert recon["status"] == "succeeded"
    assert recon["progress"] == {"total": len(investors), "done": len(investors), "failed": 0}
    assert "investors" not in recon  # the history is counts only; the outcomes are paged
    assert recon["overran"] is False
    key = quote(recon["scheduled_for"], safe="")
    detail = await client.get(f"/api/v1/jobs/runs/reconcile-intraday/{key}", headers=OPERATOR)
    assert detail.status_code == 200, detail.text
    outcomes = detail.json()["investors"]
    assert [i["investor"] for i in outcomes] == sorted(investors)
    assert {i["detail"] for i in outcomes} == {"clean"}
