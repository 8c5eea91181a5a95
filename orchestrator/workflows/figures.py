"""Key figures of a workflow run: the canonical `workflow.run_finished` log line and the operator
API show the same numbers."""

from __future__ import annotations

from collections.abc import Mapping

from orchestrator.domain.model import Side
from orchestrator.domain.money import ZERO
from orchestrator.ports.workflows import (
    WorkflowRun,
)
from orchestrator.workflows.plan import (
    ActionResult,
    AlertAction,
    NotifyAction,
    Plan,
    TransferAction,
)


def run_figures(
    run: WorkflowRun, plan: Plan, results: Mapping[int, ActionResult]
) -> dict[str, object]:
    """Key figures of a run (the canonical log line and the operator API)."""
    orders = plan.orders
    by_status: dict[str, int] = {}
    notional = {Side.BUY: ZERO, Side.SELL: ZERO}
    for o in orders:
        r = results.get(o.n)
        if r is None:
            continue
        by_status[r.status] = by_status.get(r.status, 0) + 1
        if r.status in ("sent", "unknown"):
            notional[o.side] += o.notional
    done = {n for n, r in results.items() if r.status == "done"}
    return {
        "workflow": run.workflow,
        "run_id": run.id,
        "fire_key": run.fire_key,
        "status": str(run.status),
        "dry_run": run.dry_run,
        "mode": plan.mode,
        "trigger": plan.trigger,
        "actions": len(plan.actions),
        "orders_planned": sum(1 for o in orders if o.blocked is None),
        "orders_blocked_at_planning": sum(1 for o in orders if o.blocked is not None),
        "orders_sent": by_status.get("sent", 0),
        "orders_unknown": by_status.get("unknown", 0),
        "orders_blocked": by_status.get("blocked", 0),
        "orders_failed": by_status.get("failed", 0),
        "buy_notional": str(notional[Side.BUY]),
        "sell_notional": str(notional[Side.SELL]),
        "planned_buy_notional": str(
            sum((o.notional for o in orders if o.side is Side.BUY and o.blocked is None), ZERO)
        ),
        "planned_sell_notional": str(
            sum((o.notional for o in orders if o.side is Side.SELL and o.blocked is None), ZERO)
        ),
        "transfers_proposed": sum(
            1 for a in plan.actions if isinstance(a, TransferAction) and a.n in done
        ),
        "alerts_sent": sum(1 for a in plan.actions if isinstance(a, AlertAction) and a.n in done),
        "notifications_sent": sum(
            1 for a in plan.actions if isinstance(a, NotifyAction) and a.n in done
        ),
        "total_value": plan.figures.get("total_value"),
        "kis_orderable": plan.figures.get("kis_orderable"),
        "halted": plan.halted,
    }
