"""Duplicate-proof orders: every order is an intent in the journal before the broker hears of it.

    place():  idempotency key seen? -> return that record, send nothing
              guard -> intent committed PENDING_SUBMIT -> submit once
                accepted            -> ACCEPTED (broker order id, branch)
                OrderRejected/refused -> REJECTED (code), never resent
                RateLimited         -> stays PENDING_SUBMIT; sent again after 1s, 2s, 4s ... (cap),
                                       a bounded number of times, then REJECTED
                anything else       -> UNKNOWN -> resolved from the broker's order list:
                                       match found -> ACCEPTED/...; none after the settle window
                                       -> NOT_FOUND (the caller may decide to place a new intent)
    recover(): at start-up no order is placed until one pass over the broker's order list has
               turned every PENDING_SUBMIT left by a dead process into UNKNOWN (it may have been
               sent just before the crash) and matched what the broker lists. What is still not
               listed waits out its settle window in upkeep, not in front of the next order; its
               idempotency key, placed again, settles it and answers with the outcome.

SourceUnavailable from submit() is treated as UNKNOWN, not retried. The adapter contract says it
means "nothing left the host" (a refused connection), so a resend would usually be safe; but this
layer cannot check that claim, and one misclassified timeout would be a duplicate order. Settling
costs one list read and, at worst, the settle window; the caller then places a new intent.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

import structlog

from orchestrator.domain.alerts import Alert, Severity
from orchestrator.domain.errors import (
    AccountUnknown,
    AuthError,
    NotFound,
    OrchestratorError,
    RateLimited,
    RequestRefused,
    SourceError,
    SourceUnavailable,
    StateConflict,
)
from orchestrator.domain.model import (
    AccountRef,
    AuditEvent,
    Fill,
    OrderEvent,
    OrderEventKind,
    OrderIntent,
    OrderReport,
    OrderState,
    OrderType,
    Side,
)
from orchestrator.domain.order_input import DEFAULT_MAX_QUANTITY, check_order_input
from orchestrator.domain.timeutil import to_kst
from orchestrator.ports.orders import (
    CancelState,
    FillIncrement,
    OrderAlreadyClaimed,
    OrderChange,
    OrderGuard,
    OrderJournal,
    OrderQuery,
    OrderRecord,
)
from orchestrator.ports.upstream import Clock, Notifier, OrderExecutor
from orchestrator.services.order_sending import OrderPolicy, Sleep, send_with_rate_limit_retry

log = structlog.get_logger(__name__)


_LIVE = frozenset({OrderState.ACCEPTED, OrderState.PARTIALLY_FILLED})
_FILLABLE = frozenset({OrderState.ACCEPTED, OrderState.PARTIALLY_FILLED, OrderState.CANCELLED})
_UNRESOLVED = frozenset({OrderState.PENDING_SUBMIT, OrderState.UNKNOWN})
# A definitive acknowledgement outranks our own NOT_FOUND verdict: the broker has the order.
_ACKNOWLEDGEABLE = _UNRESOLVED | {OrderState.NOT_FOUND}
_PRICE_STEP = Decimal("0.0001")
_RANK = {
    OrderState.ACCEPTED: 1,
    OrderState.PARTIALLY_FILLED: 2,
    OrderState.FILLED: 3,
    OrderState.CANCELLED: 3,
    OrderState.REJECTED: 3,
}


class OrdersNotReady(SourceUnavailable):
    """Start-up recovery has not settled every unresolved intent yet (still running after the
    bounded wait, or failed); nothing was recorded or sent. Retry later: `retry_after` seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__("orders", message, code="orders_not_ready", retry_after=retry_after)


RecoveryState = Literal["pending", "running", "ready", "failed"]


@dataclass(frozen=True, slots=True)
class RecoveryStatus:
    """Where start-up recovery stands, for /readyz, /api/v1/status and the CLI. `slow`: running
    longer than `OrderPolicy.recovery_slow_after`; `reason`: why orders are not accepted."""

    state: RecoveryState
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    slow: bool = False

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    @property
    def reason(self) -> str | None:
        if self.state == "ready":
            return None
        if self.state == "failed":
            return f"order recovery failed: {self.error}"
        if self.state == "pending":
            return "order recovery has not started"
        return "order recovery is slow (still running)" if self.slow else "order recovery running"


class IdempotencyConflict(StateConflict):
    """The idempotency key is already recorded for a different order."""


class UnknownIntent(NotFound):
    """No intent has this id."""


class OrderNotCancellable(StateConflict):
    """The order is not live at the broker (unresolved, rejected, filled, ...)."""


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What a caller wants bought or sold. `idempotency_key` names the decision (e.g. workflow,
    fire time, step, symbol): placing the same key twice yields one order."""

    idempotency_key: str
    account: AccountRef
    symbol: str
    side: Side
    quantity: int
    order_type: OrderType = OrderType.LIMIT
    limit_price: Decimal | None = None
    origin: str = "manual"

    def intent(self, intent_id: str, created_at: datetime) -> OrderIntent:
        return OrderIntent(
            id=intent_id,
            idempotency_key=self.idempotency_key,
            account=self.account,
            symbol=self.symbol,
            side=self.side,
            quantity=self.quantity,
            order_type=self.order_type,
            created_at=created_at,
            limit_price=self.limit_price,
            origin=self.origin,
        )


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    """`settled`: outcomes decided now; `unknown`: sent (maybe) by a dead process, not listed by
    the broker yet: never resent, settled by upkeep once their settle window has passed."""

    settled: tuple[OrderRecord, ...]
    waited_seconds: float
    unknown: tuple[OrderRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class FillSyncReport:
    account_id: str
    orders_checked: int
    fills_recorded: int


def _new_id() -> str:
    return f"oi-{uuid.uuid4().hex}"


def _day(at: datetime) -> str:
    return to_kst(at).strftime("%Y%m%d")


def _broker_key(report: OrderReport) -> tuple[str, str]:
    return _day(report.placed_at), report.order_id


def _matches(intent: OrderIntent, report: OrderReport) -> bool:
    same_price = intent.order_type is OrderType.MARKET or report.limit_price == intent.limit_price
    return (
        report.symbol == intent.symbol
        and report.side is intent.side
        and report.quantity == intent.quantity
        and report.order_type is intent.order_type
        and same_price
    )


def _fill_state(report: OrderReport, quantity: int) -> OrderState:
    return OrderState.FILLED if report.filled_quantity >= quantity else OrderState.PARTIALLY_FILLED


def _advances(current: OrderState, target: OrderState) -> bool:
    # The broker's list can lag our own knowledge (a confirmed cancel, a recorded fill); never
    # move an order backwards because of a stale read.
    return current.unresolved or _RANK.get(target, 0) > _RANK.get(current, 0)


def _is_cancelled(report: OrderReport) -> bool:
    return report.cancelled or report.state is OrderState.CANCELLED


class OrderService:
    """Places, cancels and tracks orders with one broker so that none is ever sent twice."""

    def __init__(
        self,
        journal: OrderJournal,
        executor: OrderExecutor,
        clock: Clock,
        *,
        sleep: Sleep = asyncio.sleep,
        policy: OrderPolicy | None = None,
        guard: OrderGuard | None = None,
        new_id: Callable[[], str] = _new_id,
        actor: str = "orchestrator",
        notifier: Notifier | None = None,
        broker_of: Callable[[AccountRef], str] | None = None,
        brokers: Sequence[str] | None = None,
        notice_latency: Callable[[float], None] | None = None,
    ) -> None:
        # `notice_latency` hears, in seconds, how long a notice held for its order's reply
        # waited until it was applied (the stream times the notices it applies at once).
        # With several brokers behind `executor` (a router), `broker_of` names the broker an
        # account trades with (recorded on its intents) and `brokers` lists them for settling.
        self._journal = journal
        self._executor = executor
        self._broker_of = broker_of or (lambda _account: executor.name)
        self._brokers = tuple(brokers) if brokers else (executor.name,)
        self._clock = clock
        self._sleep = sleep
        self._policy = policy or OrderPolicy()
        self._guard = guard
        self._new_id = new_id
        self._actor = actor
        self._notifier = notifier
        self._ready = False
        self._ready_event = asyncio.Event()
        self._recovery = RecoveryStatus("pending")
        self._alerted = False
        # Real-time notices (on_order_event): which intent owns a broker order, when an order's
        # fills were last raised from the broker's list, and notices that beat our own record
        # of the order's acceptance. Memory only: after a restart the list is the truth again.
        self._by_broker: dict[tuple[str, str, str], str] = {}
        self._listed_at: dict[str, datetime] = {}
        self._early: dict[tuple[str, str, str], list[OrderEvent]] = {}
        # Sends of ours in flight per account, and notices held while they are: a notice of an
        # order we do not know yet is most likely one of them (the notice often beats the
        # order's own reply), so it waits for their acceptance instead of reading the journal.
        self._sending: dict[str, int] = defaultdict(int)
        self._held: dict[tuple[str, str, str], list[tuple[OrderEvent, float]]] = {}
        self._notice_latency = notice_latency

    @property
    def ready(self) -> bool:
        """True once recover() has settled everything left from earlier runs."""
        return self._ready

    def recovery_status(self) -> RecoveryStatus:
        status = self._recovery
        if status.state == "running" and status.started_at is not None:
            age = (self._clock.now() - status.started_at).total_seconds()
            return replace(status, slow=age > self._policy.recovery_slow_after)
        return status

    async def _wait_until_ready(self) -> None:
        """The recovery gate: wait (bounded) for recovery, then refuse with a retryable error."""
        if self._ready:
            return
        if self._recovery.state != "failed":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready_event.wait(), self._policy.ready_wait_seconds)
            if self._ready:
                return
        status = self.recovery_status()
        raise OrdersNotReady(
            f"{status.reason}; no new order accepted yet, retry later",
            retry_after=self._policy.ready_wait_seconds or 5.0,
        )

    # -- placing ---------------------------------------------------------------------------------

    async def place(self, request: OrderRequest, *, actor: str | None = None) -> OrderRecord:
        """Record the intent, send it once, and return what we know of it now.

        A repeated idempotency key returns the existing record (whatever its state) and sends
        nothing. The result may still be UNKNOWN when the broker's list cannot tell yet; settle it
        later with resolve_pending(). Waits up to `ready_wait_seconds` for start-up recovery, then
        raises OrdersNotReady (retryable; nothing recorded),
        IdempotencyConflict when the key was used for a different order, GuardrailViolation from
        the guard, and InvalidInput (naming the field) before anything is written.
        """
        self.check_input(request)  # bad input is refused before anything is written or waited for
        await self._wait_until_ready()
        existing = await self._journal.by_key(request.idempotency_key)
        if existing is not None:
            return await self._settled_replay(self._replay(existing, request))
        intent = request.intent(self._new_id(), self._clock.now())
        if self._guard is not None:
            await self._guard.check(intent)
        record, created = await self._journal.record(
            intent,
            broker=self._broker_of(intent.account),
            audit=self._event("order.intent_recorded", intent, actor, origin=intent.origin),
        )
        if not created:
            return self._replay(record, request)
        log.info("orders.intent_recorded", **_context(record))
        account_id = intent.account.account_id
        self._sending[account_id] += 1
        try:
            return await self._send(record, actor)
        finally:
            self._sending[account_id] -= 1
            if not self._sending[account_id]:
                del self._sending[account_id]
                await self._release_held(account_id)

    async def _settled_replay(self, record: OrderRecord) -> OrderRecord:
        """A key placed again answers with the settled outcome: an open one is settled from the
        broker's list first (one read; a send still in flight elsewhere is left alone)."""
        if not record.needs_settling:
            return record
        try:
            return await self.resolve(record.id)
        except SourceError as e:
            log.warning("orders.replay_unsettled", error=str(e), **_context(record))
            return record

    def check_input(self, request: OrderRequest) -> None:
        """InvalidInput naming the field when the request breaks a KRX or broker rule."""
        check_order_input(
            symbol=request.symbol,
            quantity=request.quantity,
            limit_price=request.limit_price,
            max_quantity=getattr(self._executor, "max_order_quantity", DEFAULT_MAX_QUANTITY),
        )

    def _replay(self, record: OrderRecord, request: OrderRequest) -> OrderRecord:
        intent = record.intent
        same = (
            intent.account.account_id == request.account.account_id
            and intent.symbol == request.symbol
            and intent.side is request.side
            and intent.quantity == request.quantity
            and intent.order_type is request.order_type
            and intent.limit_price == request.limit_price
        )
        if not same:
            raise IdempotencyConflict(
                f"idempotency key {request.idempotency_key!r} already names intent {intent.id}"
                " for a different order"
            )
        log.info("orders.idempotent_replay", state=record.state.value, **_context(record))
        return record

    async def _send(self, record: OrderRecord, actor: str | None) -> OrderRecord:
        current = record

        async def reclaim(error: RateLimited, attempt: int) -> bool:
            # Still ours? A start-up recovery elsewhere may have taken the intent over.
            nonlocal current
            again = await self._journal.update(
                current.id,
                OrderChange(at=self._clock.now(), attempts=attempt, last_error=str(error)),
                expect={OrderState.PENDING_SUBMIT},
            )
            if again is None:
                log.warning("orders.send_abandoned", **_context(current))
                return False
            current = again
            return True

        sent = await send_with_rate_limit_retry(
            lambda: self._executor.submit(current.intent),
            policy=self._policy,
            sleep=self._sleep,
            reclaim=reclaim,
            event="orders.rate_limited",
            context=_context(record),
            attempts_before=record.attempts,
        )
        attempt, e = sent.attempt, sent.error
        if sent.gave_up is not None:
            limited = sent.gave_up
            code = limited.code or "rate_limited"
            return await self._reject(current, attempt, code, f"{attempt} tries: {limited}", actor)
        if sent.abandoned:
            return await self._current(current)
        if isinstance(e, RequestRefused | AccountUnknown | AuthError):
            return await self._reject(current, attempt, e.code or type(e).__name__, str(e), actor)
        if isinstance(e, SourceError):
            unknown = await self._mark_unknown(current, attempt, str(e))
            settled, _ = await self._settle([unknown], crashed_before=None)
            return settled[0]
        if e is not None:
            # A bug or an unmapped transport error: the order may be out; settle it later.
            await self._mark_unknown(current, attempt, f"{type(e).__name__}: {e}")
            raise e
        assert sent.value is not None
        return await self._accept(current, sent.value, attempt, actor)

    async def _accept(
        self, record: OrderRecord, report: OrderReport, attempt: int, actor: str | None
    ) -> OrderRecord:
        now = self._clock.now()
        change = OrderChange(
            at=now,
            state=OrderState.ACCEPTED,
            attempts=attempt,
            broker_order_id=report.order_id,
            broker_order_day=_day(report.placed_at),
            branch=report.branch or None,
            submitted_at=report.placed_at,
            resolved_at=now,
        )
        event = self._event("order.accepted", record.intent, actor, broker_order_id=report.order_id)
        account_id, order_id = record.intent.account.account_id, report.order_id.lstrip("0")
        key = (account_id, change.broker_order_day or "", order_id)
        held = self._held.pop(key, [])
        waiting = [*(e for e, _ in held), *self._early.pop(key, ())]
        if waiting:
            # The notice beat the reply: acceptance and first fill in one write when it can.
            together = await self._accept_filled(record, report, change, event, waiting[0])
            if together is not None:
                self._by_broker[key] = together.id
                current = together
                for early in waiting[1:]:
                    current = await self._apply_event(current, early)
                self._observe_held(held)
                return current
        try:
            accepted = await self._journal.update(
                record.id, change, expect=_ACKNOWLEDGEABLE, audit=event
            )
        except OrderAlreadyClaimed:
            # A resolver paired an identical lost order with ours while the acknowledgement was on
            # its way; that intent now owns it, so ours settles like any other unknown outcome.
            log.warning("orders.acknowledged_order_claimed", order_id=report.order_id)
            unknown = await self._mark_unknown(record, attempt, "order claimed by another intent")
            settled, _ = await self._settle([unknown], crashed_before=None)
            return settled[0]
        if accepted is None:
            log.warning("orders.late_acknowledgement", order_id=report.order_id)
            return await self._current(record)
        log.info(
            "orders.submitted",
            order_id=report.order_id,
            branch=report.branch,
            attempts=attempt,
            **_context(record),
        )
        self._by_broker[_stream_key(accepted)] = accepted.id
        # Notices that arrived while the acceptance was being written were held too.
        late = self._held.pop(key, [])
        held += late
        waiting += [e for e, _ in late]
        current = await self._apply_report(accepted, report)
        for early in waiting:
            current = await self._apply_event(current, early)
        self._observe_held(held)
        return current

    def _observe_held(self, held: Sequence[tuple[OrderEvent, float]]) -> None:
        if self._notice_latency is None:
            return
        now = time.perf_counter()
        for event, since in held:
            if event.kind is OrderEventKind.FILLED:
                self._notice_latency(now - since)

    async def _accept_filled(
        self,
        record: OrderRecord,
        report: OrderReport,
        change: OrderChange,
        audit: AuditEvent,
        notice: OrderEvent,
    ) -> OrderRecord | None:
        """Record the acceptance and the notice's fill in one transaction (the order's state is
        then current one journal write after the reply, not two). None when that does not
        apply or does not go through (anything unusual): the caller takes the usual path."""
        if (
            notice.kind is not OrderEventKind.FILLED
            or notice.price is None
            or report.filled_quantity
            or not 0 < notice.quantity <= record.intent.quantity
            or record.filled_quantity
        ):
            return None
        filled = replace(
            report,
            filled_quantity=notice.quantity,
            avg_fill_price=notice.price.quantize(_PRICE_STEP),
        )
        together = replace(
            change,
            state=_fill_state(filled, record.intent.quantity),
            filled_quantity=filled.filled_quantity,
            avg_fill_price=filled.avg_fill_price,
        )
        fill = FillIncrement(
            quantity=notice.quantity,
            cumulative_quantity=notice.quantity,
            price=notice.price,
            filled_at=change.at,
        )
        updated = await self._journal.record_fill(
            record.id, fill, together, expect=_ACKNOWLEDGEABLE, audit=audit
        )
        if updated is None:
            return None
        log.info(
            "orders.submitted",
            order_id=report.order_id,
            branch=report.branch,
            attempts=change.attempts,
            **_context(record),
        )
        log.info(
            "orders.fill_recorded",
            quantity=notice.quantity,
            cumulative=notice.quantity,
            **_context(record),
        )
        return updated

    async def _reject(
        self, record: OrderRecord, attempt: int, code: str, message: str, actor: str | None
    ) -> OrderRecord:
        now = self._clock.now()
        rejected = await self._journal.update(
            record.id,
            OrderChange(
                at=now,
                state=OrderState.REJECTED,
                attempts=attempt,
                reject_code=code,
                last_error=message,
                resolved_at=now,
            ),
            expect=_UNRESOLVED,
            audit=self._event("order.rejected", record.intent, actor, code=code),
        )
        log.warning("orders.rejected", code=code, error=message, **_context(record))
        return rejected or await self._current(record)

    async def _mark_unknown(self, record: OrderRecord, attempt: int, reason: str) -> OrderRecord:
        unknown = await self._journal.update(
            record.id,
            OrderChange(
                at=self._clock.now(), state=OrderState.UNKNOWN, attempts=attempt, last_error=reason
            ),
            expect={OrderState.PENDING_SUBMIT},
        )
        log.warning("orders.outcome_unknown", reason=reason, **_context(record))
        return unknown or await self._current(record)

    # -- settling --------------------------------------------------------------------------------

    async def recover(self) -> RecoveryReport:
        """Settle what earlier runs left open from one read of the broker's list; then accept
        new orders.

        Every PENDING_SUBMIT (and REQUESTED cancel) becomes UNKNOWN, so nothing is ever resent;
        UNKNOWN intents the broker lists are matched; those too recent to judge stay UNKNOWN and
        are reported in `unknown` (upkeep settles them after the settle window, without holding
        up new orders). Failed list reads are retried with backoff.
        Raises OrdersNotReady (and stays closed) when recovery_timeout seconds of waiting were not
        enough. Safe to call again.
        """
        self._ready = False
        self._ready_event.clear()
        self._recovery = RecoveryStatus("running", started_at=self._clock.now())
        try:
            report = await self._recover()
        except Exception as e:
            await self._recovery_failed(e)
            raise
        self._recovery = replace(self._recovery, state="ready", finished_at=self._clock.now())
        self._ready = True
        self._ready_event.set()
        if self._alerted:
            self._alerted = False
            await self._notify(
                Alert(
                    key="orders.recovery_failed",
                    text="Order recovery finished: orders are accepted again",
                    severity=Severity.INFO,
                )
            )
        return report

    async def _recovery_failed(self, error: Exception) -> None:
        reason = str(error) if isinstance(error, OrchestratorError) else f"{type(error).__name__}"
        self._recovery = replace(
            self._recovery, state="failed", finished_at=self._clock.now(), error=reason
        )
        log.error("orders.recovery_failed", error=reason, broker=self._executor.name)
        if not self._alerted:  # once per failure streak, not at every retry
            self._alerted = True
            await self._notify(
                Alert(
                    key="orders.recovery_failed",
                    text=f"Order recovery failed, no new order is accepted: {reason}",
                    severity=Severity.CRITICAL,
                    detail={"broker": self._executor.name},
                )
            )

    async def _notify(self, alert: Alert) -> None:
        if self._notifier is None:
            return
        try:
            await self._notifier.notify(alert)
        except Exception:  # a Notifier must not raise; if one does, recovery state still holds
            log.exception("orders.alert_failed", key=alert.key)

    async def _recover(self) -> RecoveryReport:
        waited = 0.0
        failures = 0
        log.info("orders.recovery_started", broker=self._executor.name)
        while True:
            pending = await self._unresolved()
            results, failed = await self._settle(pending, crashed_before=self._clock.now())
            if not failed:
                # Every send the dead process may have made is now UNKNOWN (never resent) and
                # whatever the broker lists is matched. What is left waits out its settle window
                # in upkeep (or when its key is placed again), not in front of the next order.
                settled = tuple(r for r in results if not r.needs_settling)
                unknown = tuple(r for r in results if r.needs_settling)
                log.info(
                    "orders.recovery_finished",
                    settled=len(settled),
                    still_unknown=len(unknown),
                    waited=waited,
                )
                return RecoveryReport(settled, waited, unknown)
            remaining = sum(1 for r in results if r.needs_settling)
            failures += 1
            delay = self._policy.backoff(failures)
            if waited + delay > self._policy.recovery_timeout:
                log.error("orders.recovery_timed_out", remaining=remaining, waited=waited)
                raise OrdersNotReady(
                    f"{remaining} order(s) still unresolved after {waited:.0f}s of recovery"
                )
            log.info("orders.recovery_waiting", remaining=remaining, delay=delay)
            await self._sleep(delay)
            waited += delay

    async def resolve_pending(self, user_id: str | None = None) -> Sequence[OrderRecord]:
        """One settling pass over open outcomes (for a periodic job, or one investor's task when
        `user_id` is given); returns them as they stand.

        A PENDING_SUBMIT intent or REQUESTED cancel younger than `stale_pending` is left alone: it
        may be in flight in this or another process right now.
        """
        pending = await self._unresolved()
        if user_id is not None:
            pending = [r for r in pending if r.intent.account.user_id == user_id]
        crashed_before = self._clock.now() - self._policy.stale_pending
        results, _ = await self._settle(pending, crashed_before=crashed_before)
        return results

    async def _unresolved(self) -> list[OrderRecord]:
        pending: list[OrderRecord] = []
        for broker in self._brokers:
            pending += await self._journal.unresolved(broker)
        return sorted(pending, key=lambda r: r.intent.created_at)

    async def resolve(self, intent_id: str) -> OrderRecord:
        """Settle one intent from the broker's list if its outcome is open; return it."""
        record = await self._get(intent_id)
        if not record.needs_settling:
            return record
        crashed_before = self._clock.now() - self._policy.stale_pending
        results, _ = await self._settle([record], crashed_before=crashed_before)
        return results[0]

    async def _settle(
        self, records: Sequence[OrderRecord], *, crashed_before: datetime | None
    ) -> tuple[list[OrderRecord], bool]:
        """Settle records from one list read per account; (records as they stand, a read failed)."""
        by_account: dict[str, list[OrderRecord]] = defaultdict(list)
        for record in records:
            if _actionable(record, crashed_before):
                by_account[record.intent.account.account_id].append(record)
        results: dict[str, OrderRecord] = {r.id: r for r in records}
        failed = False
        for group in by_account.values():
            try:
                for settled in await self._settle_account(group, crashed_before):
                    results[settled.id] = settled
            except SourceError as e:
                failed = True
                log.warning(
                    "orders.resolution_deferred",
                    account_id=group[0].intent.account.account_id,
                    error=str(e),
                )
        return [results[r.id] for r in records], failed

    async def _settle_account(
        self, records: Sequence[OrderRecord], crashed_before: datetime | None
    ) -> list[OrderRecord]:
        account = records[0].intent.account
        since = min(r.intent.created_at for r in records) - self._policy.lookback_margin
        reports = await self._executor.orders_since(account, since)
        owned = await self._journal.with_broker_orders(
            account.account_id, since - timedelta(days=1)
        )
        claimed = {_key_of(r) for r in owned}
        by_key = {_broker_key(r): r for r in reports}
        results = []
        # Oldest first, earliest broker order first: identical orders are then paired in the order
        # they were sent, and any pairing of identical orders is equally true.
        for record in sorted(records, key=lambda r: (r.intent.created_at, r.id)):
            current = record
            # Any send of a crashed PENDING_SUBMIT followed its last write, so that write, not the
            # moment we noticed, starts the settle window: a crash long ago settles at once.
            last_sent_by = record.updated_at
            if current.state is OrderState.PENDING_SUBMIT and _crashed(current, crashed_before):
                current = await self._mark_unknown(
                    current, current.attempts, "left pending by an earlier run: may have been sent"
                )
            if current.state is OrderState.UNKNOWN:
                current = await self._resolve_order(current, reports, claimed, last_sent_by)
            if current.cancel_state is CancelState.REQUESTED and _crashed(current, crashed_before):
                current = await self._mark_cancel_unknown(
                    current, "left requested by an earlier run"
                )
            if current.cancel_state is CancelState.UNKNOWN:
                current = await self._resolve_cancel(current, by_key)
            results.append(current)
        return results

    async def _resolve_order(
        self,
        record: OrderRecord,
        reports: Sequence[OrderReport],
        claimed: set[tuple[str, str]],
        last_sent_by: datetime,
    ) -> OrderRecord:
        now = self._clock.now()
        margin = self._policy.lookback_margin
        # The order, if it exists, reached the broker between creating the intent and learning
        # that the outcome is unknown (updated_at), give or take clock skew.
        low, high = record.intent.created_at - margin, record.updated_at + margin
        for report in sorted(reports, key=lambda r: (r.placed_at, r.order_id)):
            key = _broker_key(report)
            if key in claimed or not low <= report.placed_at <= high:
                continue
            if not _matches(record.intent, report):
                continue
            state = (
                OrderState.REJECTED if report.state is OrderState.REJECTED else OrderState.ACCEPTED
            )
            change = OrderChange(
                at=now,
                state=state,
                broker_order_id=report.order_id,
                broker_order_day=key[0],
                branch=report.branch or None,
                submitted_at=report.placed_at,
                resolved_at=now,
            )
            event = self._event(
                "order.resolved",
                record.intent,
                None,
                outcome="found",
                state=state.value,
                broker_order_id=report.order_id,
            )
            try:
                found = await self._journal.update(
                    record.id, change, expect={OrderState.UNKNOWN}, audit=event
                )
            except OrderAlreadyClaimed:
                claimed.add(key)
                continue
            claimed.add(key)
            if found is None:
                return await self._current(record)
            log.info(
                "orders.resolved", outcome="found", order_id=report.order_id, **_context(record)
            )
            return await self._apply_report(found, report)
        if now - last_sent_by < self._policy.settle_after:
            log.info("orders.still_unknown", **_context(record))
            return record
        gone = await self._journal.update(
            record.id,
            OrderChange(at=now, state=OrderState.NOT_FOUND, resolved_at=now),
            expect={OrderState.UNKNOWN},
            audit=self._event("order.resolved", record.intent, None, outcome="not_found"),
        )
        log.info("orders.resolved", outcome="not_found", **_context(record))
        return gone or await self._current(record)

    # -- cancelling ------------------------------------------------------------------------------

    async def cancel(self, intent_id: str, *, actor: str | None = None) -> OrderRecord:
        """Record the cancel request, send it once, and return what we know now.

        Idempotent: while a cancel is requested, unknown or confirmed, nothing is sent again; after
        a refused or never-arrived cancel a new one may be sent. Raises UnknownIntent, or
        OrderNotCancellable when the order is not live at the broker.
        """
        record = await self._get(intent_id)
        if record.state is OrderState.CANCELLED or record.cancel_state in (
            CancelState.REQUESTED,
            CancelState.UNKNOWN,
            CancelState.CONFIRMED,
        ):
            return record
        if record.state not in _LIVE or record.broker_order_id is None:
            raise OrderNotCancellable(f"intent {intent_id} is {record.state.value}")
        now = self._clock.now()
        requested = await self._journal.update(
            record.id,
            OrderChange(at=now, cancel_requested_at=now, cancel_state=CancelState.REQUESTED),
            expect=_LIVE,
            expect_cancel={None, CancelState.REJECTED, CancelState.NOT_FOUND},
            audit=self._event("order.cancel_requested", record.intent, actor),
        )
        if requested is None:
            return await self._current(record)
        log.info("orders.cancel_requested", **_context(record))
        return await self._send_cancel(requested, actor)

    async def _send_cancel(self, record: OrderRecord, actor: str | None) -> OrderRecord:
        current = record

        async def reclaim(error: RateLimited, attempt: int) -> bool:
            nonlocal current
            again = await self._journal.update(
                current.id,
                OrderChange(at=self._clock.now(), last_error=str(error)),
                expect=_LIVE,
                expect_cancel={CancelState.REQUESTED},
            )
            if again is None:
                return False
            current = again
            return True

        sent = await send_with_rate_limit_retry(
            lambda: self._executor.cancel(_report_of(current)),
            policy=self._policy,
            sleep=self._sleep,
            reclaim=reclaim,
            event="orders.cancel_rate_limited",
            context=_context(record),
        )
        e = sent.error
        if sent.gave_up is not None:
            return await self._cancel_refused(current, sent.gave_up, actor)
        if sent.abandoned:
            return await self._current(current)
        if isinstance(e, RequestRefused | AccountUnknown | AuthError):
            return await self._cancel_refused(current, e, actor)
        if isinstance(e, SourceError):
            unknown = await self._mark_cancel_unknown(current, str(e))
            settled, _ = await self._settle([unknown], crashed_before=None)
            return settled[0]
        if e is not None:
            await self._mark_cancel_unknown(current, f"{type(e).__name__}: {e}")
            raise e
        report = sent.value
        assert report is not None
        # KIS answers a cancel with a new order number; only a report of our own order can
        # carry its fills.
        if report.order_id != current.broker_order_id:
            report = _report_of(current)
        return await self._apply_report(
            current, replace(report, cancelled=True, state=OrderState.CANCELLED)
        )

    async def _cancel_refused(
        self, record: OrderRecord, error: SourceError, actor: str | None
    ) -> OrderRecord:
        refused = await self._journal.update(
            record.id,
            OrderChange(
                at=self._clock.now(),
                cancel_state=CancelState.REJECTED,
                last_error=f"cancel refused [{error.code or type(error).__name__}]: {error}",
            ),
            expect=set(OrderState),
            expect_cancel={CancelState.REQUESTED},
            audit=self._event(
                "order.cancel_resolved",
                record.intent,
                actor,
                outcome="rejected",
                code=error.code or "",
            ),
        )
        log.warning("orders.cancel_rejected", error=str(error), **_context(record))
        return refused or await self._current(record)

    async def _mark_cancel_unknown(self, record: OrderRecord, reason: str) -> OrderRecord:
        unknown = await self._journal.update(
            record.id,
            OrderChange(at=self._clock.now(), cancel_state=CancelState.UNKNOWN, last_error=reason),
            expect=set(OrderState),
            expect_cancel={CancelState.REQUESTED},
        )
        log.warning("orders.cancel_outcome_unknown", reason=reason, **_context(record))
        return unknown or await self._current(record)

    async def _resolve_cancel(
        self, record: OrderRecord, by_key: Mapping[tuple[str, str], OrderReport]
    ) -> OrderRecord:
        now = self._clock.now()
        # When we learned the cancel's outcome was unknown; recording a fill below moves updated_at.
        marked_at = record.updated_at
        report = by_key.get(_key_of(record))
        if report is not None:
            record = await self._apply_report(record, report)
            if record.cancel_state is not CancelState.UNKNOWN:
                return record
        if report is not None and report.filled_quantity >= record.intent.quantity:
            outcome = "nothing_left"
        elif now - marked_at < self._policy.settle_after:
            log.info("orders.cancel_still_unknown", **_context(record))
            return record
        else:
            outcome = "not_found"
            if report is None:
                log.error("orders.cancelled_order_missing", **_context(record))
        settled = await self._journal.update(
            record.id,
            OrderChange(at=now, cancel_state=CancelState.NOT_FOUND),
            expect=set(OrderState),
            expect_cancel={CancelState.UNKNOWN},
            audit=self._event("order.cancel_resolved", record.intent, None, outcome=outcome),
        )
        log.info("orders.cancel_resolved", outcome=outcome, **_context(record))
        return settled or await self._current(record)

    # -- fills -----------------------------------------------------------------------------------

    async def sync_fills(self, account: AccountRef) -> FillSyncReport:
        """Record fills of our orders from the broker's order list. Safe to repeat: reading the
        same list twice records nothing new. Raises SourceError when the list cannot be read."""
        now = self._clock.now()
        owned = await self._journal.with_broker_orders(
            account.account_id, now - self._policy.fill_lookback
        )
        records = [r for r in owned if r.state in _FILLABLE]
        if not records:
            return FillSyncReport(account.account_id, 0, 0)
        since = min(r.intent.created_at for r in records) - self._policy.lookback_margin
        by_key = {_broker_key(r): r for r in await self._executor.orders_since(account, since)}
        recorded = 0
        for record in records:
            report = by_key.get(_key_of(record))
            if report is None:
                log.warning("orders.order_missing_at_broker", **_context(record))
                continue
            updated = await self._apply_report(record, report)
            if updated.filled_quantity > record.filled_quantity:
                recorded += 1
        log.info(
            "orders.fills_synced",
            account_id=account.account_id,
            orders=len(records),
            fills=recorded,
        )
        return FillSyncReport(account.account_id, len(records), recorded)

    async def _apply_report(self, record: OrderRecord, report: OrderReport) -> OrderRecord:
        """Bring the record up to the broker's view of its order: fills first, then a cancel."""
        now = self._clock.now()
        current = record
        if report.filled_quantity > current.filled_quantity:
            current = await self._record_fill(current, report, now)
        elif report.filled_quantity < current.filled_quantity:
            log.warning(
                "orders.fill_regressed", broker_filled=report.filled_quantity, **_context(current)
            )
        confirm = current.cancel_state is not None and current.cancel_state.unresolved
        live = current.state in _LIVE
        if _is_cancelled(report) and (live or confirm):
            cancelled = await self._journal.update(
                current.id,
                OrderChange(
                    at=now,
                    state=OrderState.CANCELLED if live else None,
                    cancel_state=CancelState.CONFIRMED if confirm else None,
                    resolved_at=now,
                ),
                expect={current.state},
                audit=self._event(
                    "order.cancelled",
                    current.intent,
                    None,
                    requested_by_us=str(current.cancel_state is not None).lower(),
                    filled_quantity=str(current.filled_quantity),
                ),
            )
            if cancelled is None:
                return await self._current(current)
            log.info("orders.cancelled", filled=current.filled_quantity, **_context(current))
            current = cancelled
        return current

    async def _record_fill(
        self,
        record: OrderRecord,
        report: OrderReport,
        now: datetime,
        *,
        increment_price: Decimal | None = None,
    ) -> OrderRecord:
        """Raise the record to the report's cumulative fills. Without `increment_price` the
        report comes from the broker's list (and the time of that is remembered)."""
        if report.avg_fill_price is None:
            # Without a price the fill cannot be booked; the next sync will see it again.
            log.warning("orders.fill_without_price", **_context(record))
            return record
        added = report.filled_quantity - record.filled_quantity
        paid_before = (record.avg_fill_price or Decimal(0)) * record.filled_quantity
        paid_now = report.avg_fill_price * report.filled_quantity
        target = _fill_state(report, record.intent.quantity)
        updated = await self._journal.record_fill(
            record.id,
            FillIncrement(
                quantity=added,
                cumulative_quantity=report.filled_quantity,
                price=increment_price
                if increment_price is not None
                else ((paid_now - paid_before) / added).quantize(_PRICE_STEP),
                filled_at=now,
            ),
            OrderChange(
                at=now,
                state=target if _advances(record.state, target) else None,
                filled_quantity=report.filled_quantity,
                avg_fill_price=report.avg_fill_price,
            ),
            expect={record.state},
        )
        if updated is None:
            return await self._current(record)
        if increment_price is None:
            self._listed_at[record.id] = now
        log.info(
            "orders.fill_recorded",
            quantity=added,
            cumulative=report.filled_quantity,
            **_context(record),
        )
        return updated

    # -- real-time notices (OrderEventSink) ------------------------------------------------------

    async def on_order_event(self, event: OrderEvent) -> OrderRecord | None:
        """Apply a broker notice. A fill is added at once unless it may already be counted (an
        order-list read raised this order's fills around the fill's time, or another writer got
        there first): then the order is settled from the broker's list, which is cumulative, so
        a fill is never counted twice. Notices of orders we do not own are ignored; those that
        arrive before our own acceptance record are kept and applied right after it."""
        if event.kind not in (OrderEventKind.FILLED, OrderEventKind.CANCELLED):
            return None  # acceptance and refusal are known from the order's own reply
        key = (event.account_id, _day(event.at), event.order_id.lstrip("0"))
        ours_in_flight = self._sending.get(event.account_id, 0) > 0
        if key not in self._by_broker and ours_in_flight and len(self._held) < 10_000:
            self._held.setdefault(key, []).append((event, time.perf_counter()))
            return None
        record = await self._owner(key, event.at)
        if record is None:
            if event.kind is OrderEventKind.FILLED and len(self._early) < 10_000:
                self._early.setdefault(key, []).append(event)
            return None
        return await self._apply_event(record, event)

    async def on_stream_resumed(self, account: AccountRef) -> int:
        """After a (re)connect: fill the gap from the broker's order list (cumulative, so fills
        the stream already delivered are not counted again)."""
        report = await self.sync_fills(account)
        log.info(
            "orders.stream_gap_filled", account_id=account.account_id, orders=report.fills_recorded
        )
        return report.fills_recorded

    async def _release_held(self, account_id: str) -> None:
        """Our sends for the account are done: notices none of them claimed concern orders
        placed elsewhere (another process, an earlier run); look those up as usual."""
        keys = [key for key in self._held if key[0] == account_id]
        for key in keys:
            for event, since in self._held.pop(key, ()):
                try:
                    applied = await self.on_order_event(event)
                except SourceError as e:  # the list read behind a settle; polling catches up
                    log.warning("orders.held_notice_failed", error=str(e), order_id=key[2])
                    continue
                if applied is not None:
                    self._observe_held([(event, since)])

    async def _owner(self, key: tuple[str, str, str], at: datetime) -> OrderRecord | None:
        intent_id = self._by_broker.get(key)
        if intent_id is None:
            since = at - self._policy.fill_lookback
            for record in await self._journal.with_broker_orders(key[0], since):
                self._by_broker[_stream_key(record)] = record.id
            intent_id = self._by_broker.get(key)
        return None if intent_id is None else await self._journal.get(intent_id)

    async def _apply_event(self, record: OrderRecord, event: OrderEvent) -> OrderRecord:
        if event.kind is OrderEventKind.CANCELLED:
            return await self._settle_from_list(record)
        if event.kind is not OrderEventKind.FILLED or event.price is None:
            return record
        listed = self._listed_at.get(record.id)
        cumulative = record.filled_quantity + event.quantity
        if (
            (listed is not None and event.at <= listed + self._policy.stream_overlap)
            or record.state not in _FILLABLE
            or cumulative > record.intent.quantity
        ):
            return await self._settle_from_list(record)
        paid = (record.avg_fill_price or Decimal(0)) * record.filled_quantity
        average = ((paid + event.price * event.quantity) / cumulative).quantize(_PRICE_STEP)
        report = replace(_report_of(record), filled_quantity=cumulative, avg_fill_price=average)
        updated = await self._record_fill(
            record, report, self._clock.now(), increment_price=event.price
        )
        if updated.filled_quantity != cumulative:
            return await self._settle_from_list(updated)  # someone else wrote first
        return updated

    async def _settle_from_list(self, record: OrderRecord) -> OrderRecord:
        """Bring one order up to the broker's order list."""
        since = record.intent.created_at - self._policy.lookback_margin
        for report in await self._executor.orders_since(record.intent.account, since):
            if _broker_key(report) == _key_of(record):
                return await self._apply_report(await self._current(record), report)
        return record

    # -- queries ---------------------------------------------------------------------------------

    async def get(self, intent_id: str) -> OrderRecord | None:
        return await self._journal.get(intent_id)

    async def list_orders(
        self,
        *,
        user_id: str | None = None,
        account_id: str | None = None,
        states: Collection[OrderState] | None = None,
        since: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Sequence[OrderRecord]:
        """Journal entries, newest first, for the operator API and CLI (reads the database only)."""
        query = OrderQuery(user_id, account_id, states, since, limit, offset)
        return await self._journal.find(query)

    async def fills(self, intent_id: str) -> Sequence[Fill]:
        return await self._journal.fills(intent_id)

    async def _get(self, intent_id: str) -> OrderRecord:
        record = await self._journal.get(intent_id)
        if record is None:
            raise UnknownIntent(f"no order intent {intent_id!r}")
        return record

    async def _current(self, record: OrderRecord) -> OrderRecord:
        return await self._journal.get(record.id) or record

    def _event(
        self, action: str, intent: OrderIntent, actor: str | None, **detail: str
    ) -> AuditEvent:
        base = {
            "user_id": intent.account.user_id,
            "account_id": intent.account.account_id,
            "symbol": intent.symbol,
            "side": intent.side.value,
            "quantity": str(intent.quantity),
            "order_type": intent.order_type.value,
            "limit_price": "" if intent.limit_price is None else str(intent.limit_price),
            "idempotency_key": intent.idempotency_key,
        }
        return AuditEvent(
            at=self._clock.now(),
            actor=actor or self._actor,
            action=action,
            subject=f"order:{intent.id}",
            detail={**base, **detail},
        )


def _crashed(record: OrderRecord, crashed_before: datetime | None) -> bool:
    """An open send (PENDING_SUBMIT, REQUESTED cancel) counts as crashed once nobody can still be
    sending it: at start-up, everything; later, only what is older than `stale_pending`."""
    return crashed_before is not None and record.updated_at <= crashed_before


def _actionable(record: OrderRecord, crashed_before: datetime | None) -> bool:
    if record.state is OrderState.UNKNOWN or record.cancel_state is CancelState.UNKNOWN:
        return True
    open_send = (
        record.state is OrderState.PENDING_SUBMIT or record.cancel_state is CancelState.REQUESTED
    )
    return open_send and _crashed(record, crashed_before)


def _stream_key(record: OrderRecord) -> tuple[str, str, str]:
    order_id = (record.broker_order_id or "").lstrip("0")
    return record.intent.account.account_id, record.broker_order_day or "", order_id


def _key_of(record: OrderRecord) -> tuple[str, str]:
    return record.broker_order_day or "", record.broker_order_id or ""


def _report_of(record: OrderRecord) -> OrderReport:
    intent = record.intent
    return OrderReport(
        order_id=record.broker_order_id or "",
        account=intent.account,
        symbol=intent.symbol,
        side=intent.side,
        quantity=intent.quantity,
        state=record.state,
        placed_at=record.submitted_at or intent.created_at,
        order_type=intent.order_type,
        limit_price=intent.limit_price,
        filled_quantity=record.filled_quantity,
        avg_fill_price=record.avg_fill_price,
        branch=record.branch or "",
    )


def _context(record: OrderRecord) -> dict[str, str]:
    intent = record.intent
    return {
        "intent_id": intent.id,
        "account_id": intent.account.account_id,
        "symbol": intent.symbol,
        "side": intent.side.value,
    }
