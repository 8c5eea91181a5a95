"""Guardrails: pure checks of one order or transfer against the workflow's limits.

Checked when a run is planned (the plan shows what would be blocked) and again right before each
order or transfer is sent (the kill switch, the session, the day's total and the quote may have
changed since, e.g. while a plan waited for approval). Rules, in the order they are checked:

    kill_switch          the persisted kill switch is on: no order or transfer at all
    allowed_symbols      the symbol is not in the workflow's allowed set
    session_hours        the KRX regular session is closed (send time only)
    max_orders_per_run   the run already sent (or planned) its maximum
    price_collar         a limit price is further from the last quote than the collar
    max_order_notional   this order's notional is above the per-order cap
    max_daily_notional   today's (KST) workflow orders plus this one exceed the per-day cap
    max_transfer_amount  a proposed funding transfer is above its cap

A market order's notional is estimated at the last quote.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from orchestrator.domain.errors import GuardrailViolation
from orchestrator.domain.model import OrderType, Side
from orchestrator.workflows.pricing import BPS
from orchestrator.workflows.spec import HouseLimits, WorkflowSpec

N = TypeVar("N", int, Decimal)

KILL_SWITCH = "kill_switch"
ALLOWED_SYMBOLS = "allowed_symbols"
SESSION_HOURS = "session_hours"
MAX_ORDERS_PER_RUN = "max_orders_per_run"
PRICE_COLLAR = "price_collar"
MAX_ORDER_NOTIONAL = "max_order_notional"
MAX_DAILY_NOTIONAL = "max_daily_notional"
MAX_TRANSFER_AMOUNT = "max_transfer_amount"


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits in force for one workflow: its own, tightened by the house limits."""

    max_order_notional: Decimal
    max_daily_notional: Decimal
    max_orders_per_run: int
    allowed_symbols: frozenset[str]
    price_collar_bps: int
    session_hours: bool
    max_transfer_amount: Decimal


def effective_limits(spec: WorkflowSpec, house: HouseLimits | None = None) -> Limits:
    """The workflow's guardrails, each tightened by the corresponding house limit."""
    g = spec.guardrails
    h = house or HouseLimits()
    allowed = frozenset(g.allowed_symbols if g.allowed_symbols is not None else spec.symbols())
    if h.allowed_symbols is not None:
        allowed &= frozenset(h.allowed_symbols)
    return Limits(
        max_order_notional=_min(g.max_order_notional, h.max_order_notional),
        max_daily_notional=_min(g.max_daily_notional, h.max_daily_notional),
        max_orders_per_run=_min(g.max_orders_per_run, h.max_orders_per_run),
        allowed_symbols=allowed,
        price_collar_bps=_min(g.price_collar_bps, h.price_collar_bps),
        session_hours=g.session_hours,
        max_transfer_amount=_min(g.max_transfer_amount, h.max_transfer_amount),
    )


def _min(own: N, house: N | None) -> N:
    return own if house is None else min(own, house)


@dataclass(frozen=True, slots=True)
class Violation:
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.message}"

    def error(self) -> GuardrailViolation:
        return GuardrailViolation(self.rule, self.message)


@dataclass(frozen=True, slots=True)
class OrderCheck:
    symbol: str
    side: Side
    quantity: int
    order_type: OrderType
    limit_price: Decimal | None
    reference_price: Decimal  # the last quote

    @property
    def notional(self) -> Decimal:
        price = self.limit_price if self.limit_price is not None else self.reference_price
        return price * self.quantity


def check_order(
    order: OrderCheck,
    limits: Limits,
    *,
    kill_switch_on: bool,
    orders_before: int,
    sent_today: Decimal,
    session_open: bool | None,
) -> Violation | None:
    """The first rule `order` breaks, or None when it may go.

    `orders_before`: orders of this run already sent or planned; `sent_today`: notional of the
    day's workflow orders so far; `session_open`: None at planning time (not checked then).
    """
    if kill_switch_on:
        return Violation(KILL_SWITCH, "the kill switch is on: no orders or transfers")
    if order.symbol not in limits.allowed_symbols:
        allowed = ", ".join(sorted(limits.allowed_symbols)) or "none"
        return Violation(ALLOWED_SYMBOLS, f"{order.symbol} is not allowed (allowed: {allowed})")
    if limits.session_hours and session_open is False:
        return Violation(SESSION_HOURS, "the KRX regular session is closed")
    if orders_before + 1 > limits.max_orders_per_run:
        return Violation(
            MAX_ORDERS_PER_RUN, f"the run may place at most {limits.max_orders_per_run} orders"
        )
    if order.order_type is OrderType.LIMIT and order.limit_price is not None:
        collar = order.reference_price * limits.price_collar_bps / BPS
        if abs(order.limit_price - order.reference_price) > collar:
            return Violation(
                PRICE_COLLAR,
                f"limit {order.limit_price} is outside ±{limits.price_collar_bps} bps of the "
                f"last quote {order.reference_price}",
            )
    if order.notional > limits.max_order_notional:
        return Violation(
            MAX_ORDER_NOTIONAL,
            f"notional {order.notional} exceeds the per-order cap {limits.max_order_notional}",
        )
    if sent_today + order.notional > limits.max_daily_notional:
        return Violation(
            MAX_DAILY_NOTIONAL,
            f"{sent_today} already sent today + {order.notional} exceeds the per-day cap "
            f"{limits.max_daily_notional}",
        )
    return None


def check_transfer(amount: Decimal, limits: Limits, *, kill_switch_on: bool) -> Violation | None:
    """The first rule a proposed transfer of `amount` breaks, or None."""
    if kill_switch_on:
        return Violation(KILL_SWITCH, "the kill switch is on: no orders or transfers")
    if amount > limits.max_transfer_amount:
        return Violation(
            MAX_TRANSFER_AMOUNT,
            f"transfer {amount} exceeds the cap {limits.max_transfer_amount}",
        )
    return None
