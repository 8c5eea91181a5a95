"""The live services in the roles the workflow runner asks for (orchestrator.ports.workflows).

Trading decisions read fresh: a cached balance may be up to a minute old, and a plan sized on it
could overspend. Only display reads use the cache.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from decimal import Decimal

import structlog

from orchestrator.domain.alerts import Alert, Severity
from orchestrator.domain.errors import AccountUnknown, GuardrailViolation, SourceError
from orchestrator.domain.model import (
    AccountRef,
    AuditEvent,
    CashBalance,
    OrderIntent,
    OrderState,
    Position,
    Quote,
)
from orchestrator.ports import AccountSource, AuditLog, Clock, MarketData, Notifier
from orchestrator.ports import workflows as wf
from orchestrator.services.orders import OrderRequest, OrderService
from orchestrator.services.reconcile import AccountMapping, ReconcileService

log = structlog.get_logger(__name__)


class AccountDirectory:
    """Which source reads which of a user's accounts, from the account mapping (investor
    records in the service)."""

    def __init__(self, mapping: AccountMapping, sources: Mapping[str, AccountSource]) -> None:
        self._mapping = mapping
        self._sources = sources

    async def accounts(self, user_id: str) -> list[tuple[AccountSource, AccountRef]]:
        found: list[tuple[AccountSource, AccountRef]] = []
        for entry in await self._mapping.reconciled_accounts():
            if entry.user != user_id or entry.source not in self._sources:
                continue
            source = self._sources[entry.source]
            refs = await source.accounts(user_id)
            found.extend((source, ref) for ref in refs if ref.account_id == entry.account)
        return found

    async def trading_accounts(self, user_id: str) -> list[AccountRef]:
        """The user's trading accounts: those whose entry names the broker taking their orders
        (`orders:`), in configuration order. Any broker behind the OrderExecutor port."""
        # Only the trading entries' sources are asked: an order must not wait on the open-banking
        # relay's per-user budget (30/min) for an account it does not trade on.
        found: list[AccountRef] = []
        for entry in await self._mapping.reconciled_accounts():
            if entry.user != user_id or not entry.orders or entry.source not in self._sources:
                continue
            refs = await self._sources[entry.source].accounts(user_id)
            found.extend(ref for ref in refs if ref.account_id == entry.account)
        return found

    async def trading_account(self, user_id: str, account_id: str | None = None) -> AccountRef:
        """The trading account `account_id` of the user, or the first one configured."""
        for ref in await self.trading_accounts(user_id):
            if account_id is None or ref.account_id == account_id:
                return ref
        wanted = f" {account_id}" if account_id else ""
        raise AccountUnknown(
            "orchestrator", f"user {user_id} has no trading account{wanted} configured"
        )

    async def trading_account_id(self, user_id: str, account_id: str | None = None) -> str | None:
        """Our id of the trading account `account_id` of the user (None: the first), if any."""
        for entry in await self._mapping.reconciled_accounts():
            if entry.user == user_id and entry.orders and account_id in (None, entry.account):
                return entry.account
        return None

    async def broker_of(self, account_id: str) -> str | None:
        """The broker (OrderExecutor name) of a trading account, from its `orders:` entry."""
        for entry in await self._mapping.reconciled_accounts():
            if entry.account == account_id:
                return entry.orders
        return None


class LivePortfolio:
    """PortfolioReader over the account sources (fresh reads) and market data."""

    def __init__(self, directory: AccountDirectory, market: MarketData, clock: Clock) -> None:
        self._directory = directory
        self._market = market
        self._clock = clock

    async def quotes(self, symbols: Sequence[str]) -> Mapping[str, Quote]:
        quotes = await asyncio.gather(*(self._market.quote(s) for s in symbols))
        return {q.symbol: q for q in quotes}

    async def portfolio(
        self, user_id: str, symbols: Sequence[str], account_id: str | None = None
    ) -> wf.PortfolioView:
        cash: list[CashBalance] = []
        positions: list[Position] = []
        orderable = Decimal(0)
        target = await self._directory.trading_account_id(user_id, account_id)
        for source, ref in await self._directory.accounts(user_id):
            balance = await source.cash(ref, fresh=True)
            cash.append(balance)
            positions.extend(await source.positions(ref, fresh=True))
            if ref.account_id == target:
                # Budget on what may be spent now, never the headline deposit (T+2 unsettled).
                orderable += balance.orderable if balance.orderable is not None else Decimal(0)
        wanted = sorted({*symbols, *(p.symbol for p in positions)})
        return wf.PortfolioView(
            as_of=self._clock.now(),
            kis_orderable=orderable,
            positions=tuple(positions),
            cash=tuple(cash),
            quotes=await self.quotes(wanted),
        )


class LiveReconciler:
    """Reconciler role over the reconciliation service."""

    def __init__(self, service: ReconcileService) -> None:
        self._service = service

    async def run_once(self, *, trigger: str) -> wf.ReconcileSummary:
        report = await self._service.run_once(trigger=trigger)
        return wf.ReconcileSummary(
            run_id=report.run_id, status=report.status, break_count=len(report.breaks)
        )


class LiveSnapshotter:
    """Snapshotter role: fresh reads of every account of the user (failures counted, not fatal)."""

    def __init__(self, directory: AccountDirectory) -> None:
        self._directory = directory

    async def snapshot(self, user_id: str, *, trigger: str) -> wf.SnapshotSummary:
        accounts = await self._directory.accounts(user_id)
        failed = 0
        for source, ref in accounts:
            try:
                await source.cash(ref, fresh=True)
                await source.positions(ref, fresh=True)
            except SourceError as e:
                failed += 1
                log.warning("workflow.snapshot_failed", account=ref.account_id, error=str(e))
        return wf.SnapshotSummary(accounts=len(accounts), failed=failed)


class ProposedTransfers:
    """TransferProposer: records the proposal (audit) and alerts an operator; moves no money.

    Money only moves through the guarded transfer path, after a person decides.
    """

    def __init__(self, audit: AuditLog, notifier: Notifier, clock: Clock) -> None:
        self._audit = audit
        self._notifier = notifier
        self._clock = clock

    async def propose(self, request: wf.TransferRequest) -> wf.TransferProposal:
        detail = {
            "user": request.user_id,
            "amount": str(request.amount),
            "from": request.from_institution.value,
            "to": request.to_institution.value,
            "reason": request.reason,
        }
        await self._audit.append(
            AuditEvent(
                at=self._clock.now(),
                actor="workflow",
                action="transfer.proposed",
                subject=request.idempotency_key,
                detail=detail,
            )
        )
        await self._notifier.notify(
            Alert(
                key=f"transfer.proposed:{request.idempotency_key}",
                text=(
                    f"Funding transfer proposed for {request.user_id}: ₩{request.amount:,} "
                    f"({request.reason}); needs an operator to execute it"
                ),
                severity=Severity.WARNING,
                detail=detail,
            )
        )
        return wf.TransferProposal(
            id=request.idempotency_key,
            idempotency_key=request.idempotency_key,
            state="proposed",
            amount=request.amount,
        )


class KillSwitchGuard:
    """OrderGuard: no order leaves while the kill switch is on, whoever asks."""

    def __init__(self, switch: wf.KillSwitchStore) -> None:
        self._switch = switch

    async def check(self, intent: OrderIntent) -> None:
        state = await self._switch.kill_switch()
        if state.on:
            raise GuardrailViolation(
                "kill_switch", f"orders are stopped: {state.reason or 'kill switch on'}"
            )


class WorkflowOrders:
    """The OrderService in the workflow runner's OrderPlacer role.

    `account_for(user_id, account_id)` names the user's trading account (bootstrap knows the
    links; `account_id` None: the first), whichever broker holds it. Outcomes
    come back as states, not exceptions: REJECTED and NOT_FOUND carry the reason in `message`.
    """

    def __init__(
        self,
        service: OrderService,
        account_for: Callable[[str, str | None], Awaitable[AccountRef]],
    ) -> None:
        self._service = service
        self._account_for = account_for

    async def place(self, request: wf.WorkflowOrderRequest) -> wf.OrderOutcome:
        account = await self._account_for(request.user_id, request.account_id)
        record = await self._service.place(
            OrderRequest(
                idempotency_key=request.idempotency_key,
                account=account,
                symbol=request.symbol,
                side=request.side,
                quantity=request.quantity,
                order_type=request.order_type,
                limit_price=request.limit_price,
                origin=request.origin,
            ),
            actor=request.origin,
        )
        message = ""
        if record.state is OrderState.REJECTED or record.state.unresolved:
            message = " ".join(filter(None, (record.reject_code, record.last_error)))
        return wf.OrderOutcome(
            idempotency_key=request.idempotency_key,
            intent_id=record.id,
            state=record.state,
            broker_order_id=record.broker_order_id,
            message=message,
        )
