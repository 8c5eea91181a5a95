"""The step registry: each step kind with its YAML model and its planner.

Planning turns steps into a plan of actions (orders, transfer proposals, alerts, notifications)
and decisions (why each step did what it did). Planning sends nothing. Two kinds are
observations that run while planning: `reconcile` and `snapshot` (they move no money; in a dry
run they are not run at all, and reconcile is assumed clean). Everything else is executed by the
runner, after approval in approval mode.
"""

from __future__ import annotations

import string
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_CEILING, Decimal
from typing import Any, Generic, TypeVar

from orchestrator.domain.alerts import Severity
from orchestrator.domain.errors import SourceError
from orchestrator.domain.model import Institution, OrderType, Side
from orchestrator.domain.money import ZERO
from orchestrator.domain.timeutil import to_kst
from orchestrator.ports.workflows import (
    PortfolioReader,
    PortfolioView,
    Reconciler,
    Snapshotter,
)
from orchestrator.workflows.conditions import Facts
from orchestrator.workflows.guardrails import Limits, OrderCheck, check_order, check_transfer
from orchestrator.workflows.loader import WorkflowCatalog
from orchestrator.workflows.plan import (
    Action,
    AlertAction,
    Decision,
    NotifyAction,
    OrderAction,
    TransferAction,
)
from orchestrator.workflows.pricing import BPS, floor_to_lot, limit_price, with_fee
from orchestrator.workflows.rebalance import Holding, RebalanceInput, plan_rebalance
from orchestrator.workflows.spec import (
    BuyStep,
    EnsureCashBufferStep,
    LimitPrice,
    NotifyStep,
    RebalanceStep,
    ReconcileStep,
    SnapshotStep,
    StepSpec,
    WorkflowSpec,
)

S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class PlanDeps:
    portfolio: PortfolioReader
    reconciler: Reconciler
    snapshots: Snapshotter


@dataclass
class PlanContext:
    """Everything a planner reads and appends to while one run is planned."""

    name: str
    spec: WorkflowSpec
    catalog: WorkflowCatalog
    limits: Limits
    deps: PlanDeps
    fire_at: datetime
    fire_tag: str
    dry_run: bool
    kill_switch_on: bool
    sent_today: Decimal
    actions: list[Action] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    view: PortfolioView | None = None
    reconcile_clean: bool | None = None
    budget_used: Decimal = ZERO
    halted: str | None = None
    failed: bool = False

    async def portfolio(self) -> PortfolioView:
        """The user's portfolio, read once per run (quotes for every symbol the workflow names)."""
        if self.view is None:
            self.view = await self.deps.portfolio.portfolio(
                self.spec.user, self.spec.symbols(), self.spec.account
            )
        return self.view

    def facts(self) -> Facts:
        view = self.view
        return Facts(
            fire_at=self.fire_at,
            kis_orderable=None if view is None else view.kis_orderable - self.budget_used,
            portfolio_value=None if view is None else figures_of(view)[0],
            reconcile_clean=self.reconcile_clean,
        )

    def decide(self, step: str, kind: str, outcome: str, detail: str = "") -> None:
        self.decisions.append(Decision(step=step, kind=kind, outcome=outcome, detail=detail))

    def idempotency_key(self, step: str, what: str) -> str:
        """Stable per (workflow, scheduled fire, step, symbol): a re-run derives the same key."""
        return f"wf:{self.name}:{self.fire_tag}:{step}:{what}"

    def add_order(
        self,
        step: str,
        symbol: str,
        side: Side,
        quantity: int,
        *,
        limit: Decimal | None,
        reference_price: Decimal,
        cost: Decimal = ZERO,
    ) -> OrderAction:
        """Append an order, marked `blocked` when a guardrail refuses it at planning time."""
        order_type = OrderType.LIMIT if limit is not None else OrderType.MARKET
        live = [a for a in self.planned_orders() if a.blocked is None]
        violation = check_order(
            OrderCheck(symbol, side, quantity, order_type, limit, reference_price),
            self.limits,
            kill_switch_on=self.kill_switch_on,
            orders_before=len(live),
            sent_today=self.sent_today + sum((a.notional for a in live), ZERO),
            session_open=None,
        )
        action = OrderAction(
            n=len(self.actions),
            step=step,
            key=self.idempotency_key(step, symbol),
            symbol=symbol,
            side=side,
            quantity=quantity,
            order_type=order_type,
            limit_price=limit,
            reference_price=reference_price,
            cost=cost,
            blocked=None if violation is None else str(violation),
        )
        self.actions.append(action)
        if violation is not None:
            self.decide(step, "order", "blocked", f"{side} {quantity} {symbol}: {violation}")
        elif side is Side.BUY:
            self.budget_used += cost
        return action

    def planned_orders(self) -> list[OrderAction]:
        return [a for a in self.actions if isinstance(a, OrderAction)]

    def add_transfer(self, step: str, amount: Decimal, reason: str) -> TransferAction:
        violation = check_transfer(amount, self.limits, kill_switch_on=self.kill_switch_on)
        action = TransferAction(
            n=len(self.actions),
            step=step,
            key=self.idempotency_key(step, "transfer"),
            amount=amount,
            reason=reason,
            blocked=None if violation is None else str(violation),
        )
        self.actions.append(action)
        if violation is not None:
            self.decide(step, "transfer", "blocked", str(violation))
        return action

    def add_alert(self, step: str, key: str, text: str, severity: Severity) -> None:
        self.actions.append(
            AlertAction(n=len(self.actions), step=step, key=key, text=text, severity=severity)
        )

    def add_notify(self, step: str, text: str, severity: Severity) -> None:
        self.actions.append(
            NotifyAction(n=len(self.actions), step=step, text=text, severity=severity)
        )


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------


def figures_of(view: PortfolioView) -> tuple[Decimal, dict[str, Decimal]]:
    """(total value, figures): positions everywhere + KIS cash + Samsung cash."""
    positions = view.positions_value()
    kis_cash = view.cash_at(Institution.KIS)
    samsung = view.cash_at(Institution.SAMSUNG_SECURITIES)
    total = positions + kis_cash + samsung
    return total, {
        "total_value": total,
        "positions_value": positions,
        "kis_orderable": view.kis_orderable,
        "kis_cash": kis_cash,
        "samsung_cash": samsung,
    }


def orders_text(actions: list[Action], *, dry_run: bool) -> str:
    """The `$orders` of a notify message: what the run places (or, dry, would place)."""
    orders = [a for a in actions if isinstance(a, OrderAction) and a.blocked is None]
    verb = "would place" if dry_run else "placed"
    if not orders:
        return f"{verb} no order"
    parts = []
    for o in orders:
        price = "at market" if o.limit_price is None else f"@ {won(o.limit_price)}"
        parts.append(f"{o.side.value} {o.quantity} {o.symbol} {price}")
    return f"{verb} {', '.join(parts)}"


def won(amount: Decimal) -> str:
    """₩1,234,567 (whole won, rounded half up)."""
    return f"₩{amount.quantize(Decimal(1)):,}"


# ---------------------------------------------------------------------------------------------
# Planners
# ---------------------------------------------------------------------------------------------


async def plan_reconcile(step: ReconcileStep, ctx: PlanContext) -> None:
    if ctx.dry_run:
        ctx.reconcile_clean = True
        ctx.decide(step.key, step.step, "not_run", "dry run: not run, assumed clean")
        return
    try:
        summary = await ctx.deps.reconciler.run_once(trigger=f"workflow:{ctx.name}")
    except SourceError as e:
        ctx.failed = True
        ctx.halted = f"reconcile failed: {e}"
        ctx.decide(step.key, step.step, "failed", str(e))
        return
    ctx.reconcile_clean = summary.break_count == 0
    detail = f"run {summary.run_id}: {summary.status}, {summary.break_count} break(s)"
    ctx.decide(step.key, step.step, "ran", detail)
    if summary.break_count and step.stop_on_breaks:
        ctx.halted = f"reconcile found {summary.break_count} break(s)"


async def plan_snapshot(step: SnapshotStep, ctx: PlanContext) -> None:
    if ctx.dry_run:
        ctx.decide(step.key, step.step, "not_run", "dry run: not run")
        return
    try:
        summary = await ctx.deps.snapshots.snapshot(ctx.spec.user, trigger=f"workflow:{ctx.name}")
    except SourceError as e:
        ctx.failed = True
        ctx.decide(step.key, step.step, "failed", str(e))
        return
    detail = f"{summary.accounts} account(s), {summary.failed} failed"
    ctx.decide(step.key, step.step, "failed" if summary.failed else "ran", detail)
    ctx.failed = ctx.failed or summary.failed > 0


async def plan_rebalance_step(step: RebalanceStep, ctx: PlanContext) -> None:
    view = await ctx.portfolio()
    missing = [s for s in step.symbols() if view.quotes.get(s) is None]
    if missing:
        ctx.failed = True
        ctx.decide(step.key, step.step, "failed", f"no quote for {', '.join(missing)}")
        return
    holdings = {}
    for symbol in step.symbols():
        instrument = ctx.catalog.instrument(symbol)
        at_kis = view.quantity(symbol, Institution.KIS)
        holdings[symbol] = Holding(
            symbol=symbol,
            price=view.quotes[symbol].price,
            kis_quantity=at_kis,
            other_quantity=view.quantity(symbol) - at_kis,
            kind=instrument.kind,
            lot=instrument.lot,
        )
    counted_cash = view.kis_orderable
    if step.count_samsung_cash:
        counted_cash += view.cash_at(Institution.SAMSUNG_SECURITIES)
    budget = view.kis_orderable - ctx.budget_used - step.cash_reserve
    result = plan_rebalance(
        RebalanceInput(
            holdings=holdings,
            targets={s: w / 100 for s, w in step.targets.items()},
            budget=budget,
            counted_cash=counted_cash,
            band=step.drift_band_pct / 100,
            min_trade=step.min_trade,
            offset_bps=step.price.offset_bps if isinstance(step.price, LimitPrice) else None,
            market_buffer_bps=ctx.limits.price_collar_bps,
            fee_bps=step.fee_bps,
        )
    )
    for d in result.decisions:
        detail = f"{d.symbol}: weight {d.weight * 100:.2f}% target {d.target * 100:.2f}%"
        ctx.decide(step.key, step.step, d.outcome, f"{detail} {d.detail}".strip())
    for trade in result.trades:
        ctx.add_order(
            step.key,
            trade.symbol,
            trade.side,
            trade.quantity,
            limit=trade.price if trade.limit else None,
            reference_price=holdings[trade.symbol].price,
            cost=trade.cost if trade.side is Side.BUY else ZERO,
        )
    if result.shortfall > 0:
        ctx.decide(
            step.key,
            step.step,
            "short_of_cash",
            f"buys wanted {won(result.shortfall)} more than the orderable budget {won(budget)}",
        )


async def plan_buy(step: BuyStep, ctx: PlanContext) -> None:
    view = await ctx.portfolio()
    limit = isinstance(step.price, LimitPrice)
    offset = step.price.offset_bps if isinstance(step.price, LimitPrice) else 0
    for order in step.orders:
        quote = view.quotes.get(order.symbol)
        if quote is None:
            ctx.failed = True
            ctx.decide(step.key, step.step, "failed", f"no quote for {order.symbol}")
            continue
        instrument = ctx.catalog.instrument(order.symbol)
        price = limit_price(quote.price, Side.BUY, offset, instrument.kind) if limit else None
        worst = (
            price if price is not None else quote.price * (1 + ctx.limits.price_collar_bps / BPS)
        )
        share_cost = with_fee(worst, step.fee_bps)
        if order.quantity is not None:
            quantity = floor_to_lot(order.quantity, instrument.lot)
        else:
            assert order.amount is not None
            quantity = floor_to_lot(order.amount / share_cost, instrument.lot)
        if quantity == 0:
            ctx.decide(step.key, step.step, "below_one_lot", f"{order.symbol}: {won(share_cost)}")
            continue
        remaining = view.kis_orderable - ctx.budget_used
        if quantity * share_cost > remaining:
            affordable = floor_to_lot(max(remaining, ZERO) / share_cost, instrument.lot)
            detail = (
                f"{order.symbol}: {quantity} would cost {won(quantity * share_cost)}, "
                f"orderable {won(remaining)}"
            )
            if affordable == 0:
                ctx.decide(step.key, step.step, "short_of_cash", detail)
                continue
            ctx.decide(step.key, step.step, "reduced", f"{detail}; buying {affordable}")
            quantity = affordable
        ctx.add_order(
            step.key,
            order.symbol,
            Side.BUY,
            quantity,
            limit=price,
            reference_price=quote.price,
            cost=quantity * share_cost,
        )
        ctx.decide(step.key, step.step, "planned", f"buy {quantity} {order.symbol}")


async def plan_cash_buffer(step: EnsureCashBufferStep, ctx: PlanContext) -> None:
    view = await ctx.portfolio()
    orderable = view.kis_orderable - ctx.budget_used
    if orderable >= step.floor:
        ctx.decide(step.key, step.step, "ok", f"orderable {won(orderable)} ≥ {won(step.floor)}")
        return
    text = (
        f"[{ctx.name}] KIS orderable cash {won(orderable)} is below the floor "
        f"{won(step.floor)} (short {won(step.floor - orderable)})"
    )
    ctx.add_alert(step.key, f"workflow.{ctx.name}.cash_buffer", text, step.severity)
    ctx.decide(step.key, step.step, "short", text)
    if not step.propose_transfer:
        return
    wanted = ((step.top_up_to or step.floor) - orderable).to_integral_value(ROUND_CEILING)
    available = view.cash_at(Institution.SAMSUNG_SECURITIES)
    amount = min(wanted, available.to_integral_value())
    if amount <= 0:
        ctx.decide(step.key, step.step, "no_funding", "no Samsung cash to propose a transfer from")
        return
    reason = f"workflow {ctx.name}: top KIS orderable cash up to {won(orderable + amount)}"
    ctx.add_transfer(step.key, amount, reason)
    ctx.decide(step.key, step.step, "transfer_proposed", f"{won(amount)} Samsung -> KIS")


async def plan_notify(step: NotifyStep, ctx: PlanContext) -> None:
    view = await ctx.portfolio()
    _, figures = figures_of(view)
    values = {k: won(v) for k, v in figures.items()}
    values["workflow"] = ctx.name
    values["date"] = to_kst(ctx.fire_at).date().isoformat()
    values["position_count"] = str(len(view.positions))
    values["orders"] = orders_text(ctx.actions, dry_run=ctx.dry_run)
    text = string.Template(step.message).safe_substitute(values)
    if step.include_positions:
        for p in sorted(view.positions, key=lambda p: (p.symbol, p.account.institution)):
            price = view.price(p.symbol) or p.avg_price
            text += (
                f"\n{p.symbol} {p.name} ×{p.quantity} @ {won(price)} = {won(price * p.quantity)}"
            )
    ctx.add_notify(step.key, text, step.severity)
    ctx.decide(step.key, step.step, "planned", "message rendered")


# ---------------------------------------------------------------------------------------------
# The registry
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StepType(Generic[S]):
    kind: str
    model: type[S]
    plan: Callable[[S, PlanContext], Awaitable[None]]
    trades: bool
    summary: str


REGISTRY: Mapping[str, StepType[Any]] = {
    t.kind: t
    for t in (
        StepType("reconcile", ReconcileStep, plan_reconcile, False, "reconcile every source"),
        StepType("snapshot", SnapshotStep, plan_snapshot, False, "snapshot every account"),
        StepType("rebalance", RebalanceStep, plan_rebalance_step, True, "target weights at KIS"),
        StepType("buy", BuyStep, plan_buy, True, "fixed amount or quantity (DCA)"),
        StepType(
            "ensure_cash_buffer",
            EnsureCashBufferStep,
            plan_cash_buffer,
            False,
            "alert (and propose funding) below a cash floor",
        ),
        StepType("notify", NotifyStep, plan_notify, False, "a message with portfolio figures"),
    )
}


async def plan_step(step: StepSpec, ctx: PlanContext) -> None:
    """Plan one step with its registered planner."""
    await REGISTRY[step.step].plan(step, ctx)
