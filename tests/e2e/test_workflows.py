"""Workflows end to end: the shipped DCA example against the in-process KIS sandbox."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.ports.workflows import RunStatus
from orchestrator.workflows.commands import format_run
from orchestrator.workflows.runner import RunNotAwaitingApproval

DCA = "monthly-dca-005930"


def _broker_orders(container: Any) -> list[Any]:
    broker = container.sandbox_apps["kis"].state.broker
    return [o for o in broker.book.orders if o.odno]


async def test_dry_run_prints_a_plan_and_sends_nothing(service: Any) -> None:
    """--dry-run plans the DCA buy and the broker sees no order."""
    container, _, _ = service
    before = len(_broker_orders(container))

    run = await container.runner.run(DCA, dry_run=True)

    assert run.status is RunStatus.PLANNED
    assert "buy" in format_run(run)
    assert "005930" in format_run(run)
    assert len(_broker_orders(container)) == before


async def test_approved_run_reaches_the_broker_exactly_once(service: Any) -> None:
    """Approval mode plans first; approving sends the order once; approving again sends nothing."""
    container, _, _ = service
    before = len(_broker_orders(container))

    planned = await container.runner.run(DCA)
    assert planned.status is RunStatus.AWAITING_APPROVAL
    assert len(_broker_orders(container)) == before

    done = await container.runner.approve(planned.id, by="test")
    with pytest.raises(RunNotAwaitingApproval):
        await container.runner.approve(planned.id, by="test")

    assert done.status is RunStatus.SUCCEEDED, format_run(done)
    new = _broker_orders(container)[before:]
    assert [o.pdno for o in new] == ["005930"]


async def test_kill_switch_stops_the_run_and_says_why(service: Any) -> None:
    """With the kill switch on nothing is sent and the run names the kill switch."""
    container, _, _ = service
    before = len(_broker_orders(container))
    await container.kill_switch.set(True, "drill", "test")

    planned = await container.runner.run(DCA)
    if planned.status is RunStatus.AWAITING_APPROVAL:
        planned = await container.runner.approve(planned.id, by="test")

    assert planned.status is RunStatus.BLOCKED, format_run(planned)
    assert "kill" in format_run(planned).lower()
    assert len(_broker_orders(container)) == before


async def test_operator_api_lists_workflows_and_approves_a_run(service: Any) -> None:
    """/api/v1/workflows lists the shipped examples; an operator approves a run over the API."""
    container, client, _ = service
    operator = {"Authorization": "Bearer demo-operator-key-sandbox-only"}
    viewer = {"Authorization": "Bearer demo-viewer-key-sandbox-only"}
    before = len(_broker_orders(container))
    planned = await container.runner.run(DCA)

    listed = (await client.get("/api/v1/workflows", headers=viewer)).json()
    runs = (await client.get("/api/v1/workflows/runs", headers=viewer)).json()
    refused = await client.post(f"/api/v1/workflows/runs/{planned.id}/approve", headers=viewer)
    approved = await client.post(f"/api/v1/workflows/runs/{planned.id}/approve", headers=operator)
    again = await client.post(f"/api/v1/workflows/runs/{planned.id}/approve", headers=operator)

    assert {w["name"] for w in listed} == {
        "daily-reconcile",
        "kis-cash-buffer",
        DCA,
        "quarterly-rebalance-60-40",
    }
    assert planned.id in {r["id"] for r in runs}
    assert refused.status_code == 403
    assert approved.status_code == 200, approved.text
    assert again.status_code == 409
    assert len(_broker_orders(container)) == before + 1
