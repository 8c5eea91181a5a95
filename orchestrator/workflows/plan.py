"""A run's plan, decisions and outcome: typed here, stored as JSON on the run row.

JSON contract relied on by stores (adapters/db/workflows.py reads it without importing this):
`outcome["results"]` is a list of objects with `status` ("sent", "unknown", "blocked", "failed",
"done"), `at` (ISO 8601 with offset) and, for orders, `notional` (decimal string). Orders whose
status is "sent" or "unknown" count towards the per-day cap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.domain.alerts import Severity
from orchestrator.domain.model import OrderType, Side
from orchestrator.domain.money import ZERO


class _Json(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    def to_json(self) -> dict[str, object]:
        return self.model_dump(mode="json")


class Decision(_Json):
    """Why a step did what it did ("within_band", "skipped", "planned", "failed", ...)."""

    step: str
    kind: str
    outcome: str
    detail: str = ""


class OrderAction(_Json):
    kind: Literal["order"] = "order"
    n: int
    step: str
    key: str  # the idempotency key: workflow, fire, step, symbol
    symbol: str
    side: Side
    quantity: int
    order_type: OrderType
    limit_price: Decimal | None = None
    reference_price: Decimal  # the last quote when planned
    cost: Decimal = ZERO  # buys: worst-case cash out, fees included
    blocked: str | None = None  # a guardrail's verdict at planning time

    @property
    def notional(self) -> Decimal:
        price = self.limit_price if self.limit_price is not None else self.reference_price
        return price * self.quantity


class TransferAction(_Json):
    kind: Literal["transfer"] = "transfer"
    n: int
    step: str
    key: str
    amount: Decimal
    reason: str
    blocked: str | None = None


class AlertAction(_Json):
    kind: Literal["alert"] = "alert"
    n: int
    step: str
    key: str
    text: str
    severity: Severity = Severity.WARNING


class NotifyAction(_Json):
    kind: Literal["notify"] = "notify"
    n: int
    step: str
    text: str
    severity: Severity = Severity.INFO


Action = Annotated[
    OrderAction | TransferAction | AlertAction | NotifyAction, Field(discriminator="kind")
]


class Plan(_Json):
    workflow: str
    user: str
    mode: Literal["auto", "approval"]
    trigger: str
    fire_tag: str
    scheduled_for: datetime
    actions: tuple[Action, ...] = ()
    figures: dict[str, str] = Field(default_factory=dict)
    halted: str | None = None  # why planning stopped before the last step
    failed: bool = False  # a step could not be planned (a read failed, a quote was missing)
    skipped: bool = False  # the workflow's own conditions did not hold

    @property
    def orders(self) -> tuple[OrderAction, ...]:
        return tuple(a for a in self.actions if isinstance(a, OrderAction))

    @property
    def needs_approval(self) -> bool:
        """True when the plan would send an order or propose a transfer."""
        return any(
            isinstance(a, OrderAction | TransferAction) and a.blocked is None for a in self.actions
        )


ResultStatus = Literal["sent", "unknown", "blocked", "failed", "done"]


class ActionResult(_Json):
    n: int
    status: ResultStatus
    at: datetime
    detail: str = ""
    notional: Decimal | None = None  # orders sent or unknown: counts towards the day's cap
    intent_id: str | None = None
    order_state: str | None = None
    broker_order_id: str | None = None
    proposal_id: str | None = None


class Outcome(_Json):
    results: tuple[ActionResult, ...] = ()
    error: str | None = None

    def by_action(self) -> dict[int, ActionResult]:
        return {r.n: r for r in self.results}


def load_plan(data: Mapping[str, object]) -> Plan:
    return Plan.model_validate(data)


def load_outcome(data: Mapping[str, object]) -> Outcome:
    return Outcome.model_validate(data) if data else Outcome()


def load_decisions(data: Sequence[Mapping[str, object]]) -> list[Decision]:
    return [Decision.model_validate(d) for d in data]


def sent_notional(outcome: Mapping[str, object], since: datetime) -> Decimal:
    """Notional of the orders in a stored outcome sent (or maybe sent) at or after `since`."""
    total = ZERO
    for result in load_outcome(outcome).results:
        sent = result.status in ("sent", "unknown") and result.notional is not None
        if sent and result.notional is not None and result.at >= since:
            total += result.notional
    return total
