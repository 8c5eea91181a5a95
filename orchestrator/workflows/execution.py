"""Executing a planned workflow action: an order (guardrails and kill switch checked right before
it is sent, idempotent by its key), a proposed transfer, an alert or a notification. Every
outcome, even an error nobody foresaw, becomes an `ActionResult`: a run never stays EXECUTING
because one action raised."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal

import structlog

from orchestrator.domain.alerts import Alert
from orchestrator.domain.errors import (
    GuardrailViolation,
    OrchestratorError,
    OrderOutcomeUnknown,
    OrderRejected,
    SourceError,
)
from orchestrator.domain.model import OrderState, Quote
from orchestrator.ports.upstream import Notifier
from orchestrator.ports.workflows import (
    TransferRequest,
    WorkflowOrderRequest,
    WorkflowRun,
)
from orchestrator.workflows.deps import WorkflowDeps, kst_day_start
from orchestrator.workflows.guardrails import (
    Limits,
    OrderCheck,
    Violation,
    check_order,
    check_transfer,
)
from orchestrator.workflows.plan import (
    Action,
    ActionResult,
    AlertAction,
    NotifyAction,
    OrderAction,
    Plan,
    ResultStatus,
    TransferAction,
)
from orchestrator.workflows.steps import won

log = structlog.get_logger(__name__)


async def notify_safely(notifier: Notifier, alert: Alert) -> None:
    try:
        await notifier.notify(alert)
    except Exception as e:  # the port says it must not raise; a bad adapter must not stop us
        log.error("workflow.notify_failed", key=alert.key, error=f"{type(e).__name__}: {e}")


class ActionExecutor:
    """Performs one planned action of a run and says how it went."""

    def __init__(
        self, deps: WorkflowDeps, account_of: Callable[[str], str | None] | None = None
    ) -> None:
        self._deps = deps
        self._store = deps.store
        # The trading account a workflow's orders go to (its `account:`), by workflow name.
        self._account_of = account_of or (lambda _workflow: None)

    async def _notify(self, alert: Alert) -> None:
        await notify_safely(self._deps.notifier, alert)

    async def quotes(
        self, plan: Plan, results: Mapping[int, ActionResult]
    ) -> tuple[Mapping[str, Quote], str | None]:
        symbols = sorted({o.symbol for o in plan.orders if o.n not in results})
        if not symbols:
            return {}, None
        try:
            return await self._deps.portfolio.quotes(symbols), None
        except SourceError as e:
            return {}, str(e)

    async def perform(
        self,
        run: WorkflowRun,
        plan: Plan,
        action: Action,
        limits: Limits,
        results: Mapping[int, ActionResult],
        quotes: Mapping[str, Quote],
        quote_error: str | None,
    ) -> ActionResult:
        """How the action went. Every deliberate error (the order service still recovering, a
        guardrail, a refused or unreachable upstream, ...) becomes a result, so the run finishes
        instead of staying EXECUTING; an order's unexpected one is "unknown" (it may have been
        sent). Only a bug or the process dying leaves the run EXECUTING, for
        `resume_interrupted` to finish without resending (keys are idempotent)."""
        try:
            return await self._perform(run, plan, action, limits, results, quotes, quote_error)
        except OrchestratorError as e:
            log.warning("workflow.action_error", action=action.n, run_id=run.id, error=str(e))
            detail = f"{type(e).__name__}: {e}"
            if isinstance(action, OrderAction):
                return self.result(action, "unknown", detail, notional=action.notional)
            return self.result(action, "failed", detail)

    async def _perform(
        self,
        run: WorkflowRun,
        plan: Plan,
        action: Action,
        limits: Limits,
        results: Mapping[int, ActionResult],
        quotes: Mapping[str, Quote],
        quote_error: str | None,
    ) -> ActionResult:
        if isinstance(action, OrderAction):
            return await self._send_order(run, plan, action, limits, results, quotes, quote_error)
        if isinstance(action, TransferAction):
            return await self._propose_transfer(plan, action, limits)
        if isinstance(action, AlertAction):
            await self._notify(Alert(key=action.key, text=action.text, severity=action.severity))
            return self.result(action, "done", "alert sent")
        assert isinstance(action, NotifyAction)
        await self._notify(
            Alert(
                key=f"workflow.{plan.workflow}.notify", text=action.text, severity=action.severity
            )
        )
        return self.result(action, "done", "notification sent")

    async def _send_order(
        self,
        run: WorkflowRun,
        plan: Plan,
        order: OrderAction,
        limits: Limits,
        results: Mapping[int, ActionResult],
        quotes: Mapping[str, Quote],
        quote_error: str | None,
    ) -> ActionResult:
        what = f"{order.side} {order.quantity} {order.symbol}"
        if order.blocked is not None:
            return self.result(order, "blocked", f"{what}: at planning: {order.blocked}")
        quote = quotes.get(order.symbol)
        if quote is None:
            return self.result(order, "failed", f"{what}: no quote ({quote_error or 'missing'})")
        now = self._deps.clock.now()
        sent_before = sum(
            1
            for n, r in results.items()
            if r.status in ("sent", "unknown") and r.notional is not None
        )
        violation = check_order(
            OrderCheck(
                order.symbol,
                order.side,
                order.quantity,
                order.order_type,
                order.limit_price,
                quote.price,
            ),
            limits,
            kill_switch_on=(await self._deps.kill_switch.kill_switch()).on,
            orders_before=sent_before,
            sent_today=await self._store.sent_notional_since(kst_day_start(now)),
            session_open=self._deps.calendar.is_open(now),
        )
        if violation is not None:
            return self._blocked(order, what, violation)
        request = WorkflowOrderRequest(
            idempotency_key=order.key,
            user_id=plan.user,
            symbol=order.symbol,
            side=order.side,
            quantity=order.quantity,
            order_type=order.order_type,
            limit_price=order.limit_price,
            origin=f"workflow:{plan.workflow}:{run.id}",
            account_id=self._account_of(plan.workflow),
        )
        try:
            outcome = await self._deps.orders.place(request)
        except GuardrailViolation as e:
            return self._blocked(order, what, Violation(e.rule, str(e)))
        except OrderRejected as e:
            return self.result(order, "failed", f"{what}: rejected: {e}")
        except OrderOutcomeUnknown as e:
            log.warning("workflow.order_outcome_unknown", key=order.key, error=str(e))
            return self.result(order, "unknown", f"{what}: {e}", notional=order.notional)
        except SourceError as e:
            return self.result(order, "failed", f"{what}: not sent: {e}")
        status: ResultStatus = "sent"
        if outcome.state in (OrderState.REJECTED, OrderState.NOT_FOUND):
            status = "failed"
        elif outcome.state.unresolved:
            status = "unknown"
        log.info("workflow.order_placed", key=order.key, state=outcome.state, symbol=order.symbol)
        return self.result(
            order,
            status,
            f"{what}: {outcome.state}{': ' + outcome.message if outcome.message else ''}",
            notional=order.notional if status != "failed" else None,
            intent_id=outcome.intent_id,
            order_state=str(outcome.state),
            broker_order_id=outcome.broker_order_id,
        )

    async def _propose_transfer(
        self, plan: Plan, action: TransferAction, limits: Limits
    ) -> ActionResult:
        what = f"transfer {won(action.amount)}"
        if action.blocked is not None:
            return self.result(action, "blocked", f"{what}: at planning: {action.blocked}")
        kill = await self._deps.kill_switch.kill_switch()
        violation = check_transfer(action.amount, limits, kill_switch_on=kill.on)
        if violation is not None:
            return self._blocked(action, what, violation)
        request = TransferRequest(
            idempotency_key=action.key,
            user_id=plan.user,
            amount=action.amount,
            reason=action.reason,
        )
        try:
            proposal = await self._deps.transfers.propose(request)
        except GuardrailViolation as e:
            return self._blocked(action, what, Violation(e.rule, str(e)))
        except SourceError as e:
            return self.result(action, "failed", f"{what}: {e}")
        return self.result(
            action, "done", f"{what}: proposed ({proposal.state})", proposal_id=proposal.id
        )

    def _blocked(
        self, action: OrderAction | TransferAction, what: str, violation: Violation
    ) -> ActionResult:
        log.warning("workflow.guardrail_blocked", rule=violation.rule, action=what)
        return self.result(action, "blocked", f"{what}: {violation}")

    def result(
        self,
        action: Action,
        status: ResultStatus,
        detail: str,
        *,
        notional: Decimal | None = None,
        intent_id: str | None = None,
        order_state: str | None = None,
        broker_order_id: str | None = None,
        proposal_id: str | None = None,
    ) -> ActionResult:
        return ActionResult(
            n=action.n,
            status=status,
            at=self._deps.clock.now(),
            detail=detail,
            notional=notional,
            intent_id=intent_id,
            order_state=order_state,
            broker_order_id=broker_order_id,
            proposal_id=proposal_id,
        )
