"""Reconciliation use case: read every configured account fresh, build the expected book from the
last accepted snapshot and our own records, compare, persist the run and its breaks, alert once.

Per user, per run:
  1. resolve and read each configured account (`fresh=True`); a failed read is a Reading with an
     error, which the comparison turns into a stale_source break;
  2. read the broker's order list where configured, our fills / intents / transfers since the
     baseline, and compare (`orchestrator.domain.reconciliation.reconcile`);
  3. store the readings, open / touch / resolve breaks; alert once per newly opened break;
  4. if nothing is broken and nothing is in flight, the readings become the accepted baseline.
One user failing (even with a bug) never stops the others: the run then ends in status "error".
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Protocol

import structlog
from pydantic import BaseModel, ConfigDict, Field, model_validator

from orchestrator.domain.alerts import Alert, Severity
from orchestrator.domain.errors import ConfigError
from orchestrator.domain.model import BreakKind, Quote, Snapshot
from orchestrator.domain.portfolio import Portfolio, consolidate
from orchestrator.domain.reconciliation import (
    AccountBook,
    CashField,
    ComparisonOutcome,
    ExpectedBook,
    Pending,
    Reading,
    Tolerances,
    order_window_start,
    reconcile,
)
from orchestrator.domain.timeutil import to_kst
from orchestrator.ports.reconciliation import (
    OPEN,
    RESOLVED,
    AccountLedger,
    BreakRecord,
    JournalReader,
    LedgerWindow,
    OrderListSource,
    ReconciliationStore,
)
from orchestrator.ports.upstream import AccountSource, Clock, Notifier
from orchestrator.services.reconcile_report import (
    BreakView,
    PendingView,
    ReconcileStatus,
    ReconciliationReport,
    SourceSummary,
    format_report,
    format_report_dict,
    iso_or_none,
    portfolio_dict,
    text_or_none,
)
from orchestrator.services.snapshots import ReadPlan, SourceAccounts, describe, read_account

log = structlog.get_logger(__name__)

# Intents created shortly before the order window may carry a broker order placed inside it.
_INTENT_MARGIN = timedelta(hours=1)
_CRITICAL = frozenset(
    {BreakKind.UNKNOWN_ORDER, BreakKind.MISSING_FILL, BreakKind.POSITION_MISMATCH}
)


# --- Settings ----------------------------------------------------------------------------------


class ReconciledAccountSettings(BaseModel):
    """One account to reconcile, and which source reads it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user: str = Field(min_length=1, max_length=64)
    account: str = Field(min_length=1, max_length=64)
    source: str = Field(min_length=1, description="AccountSource name, e.g. openbanking or kis")
    cash_field: CashField = CashField.DEPOSIT
    positions: bool = True
    transactions: bool = False
    orders: str | None = Field(
        default=None, description="OrderExecutor whose order list is compared (e.g. kis)"
    )
    transfers_to: str | None = Field(
        default=None, description="OUT transactions here are transfers to this account"
    )


class ReconciliationSettings(BaseModel):
    """The `reconciliation:` section."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cash_tolerance_krw: Decimal = Field(default=Decimal(0), ge=0)
    fee_tolerance_rate: Decimal = Field(default=Decimal("0.003"), ge=0, le=Decimal("0.05"))
    too_recent_seconds: int = Field(default=120, ge=0)
    transfer_match_window_seconds: int = Field(default=3600, gt=0)
    transfer_min_krw: Decimal = Field(default=Decimal(0), ge=0)
    stale_after_seconds: int = Field(default=900, gt=0)
    order_lookback_days: int = Field(default=7, ge=1, le=90)
    transaction_lookback_days: int = Field(default=31, ge=1, le=90)
    accounts: tuple[ReconciledAccountSettings, ...] = ()
    # Users reconciled at the same time within one run.
    user_concurrency: int = Field(default=8, ge=1, le=64)

    @model_validator(mode="after")
    def _consistent(self) -> ReconciliationSettings:
        seen: dict[str, str] = {}
        for a in self.accounts:
            if a.account in seen:
                raise ValueError(f"account {a.account!r} is listed twice")
            seen[a.account] = a.user
        for a in self.accounts:
            if a.transfers_to is None:
                continue
            if not a.transactions:
                raise ValueError(f"{a.account}: transfers_to needs transactions: true")
            if a.transfers_to == a.account or seen.get(a.transfers_to) != a.user:
                raise ValueError(
                    f"{a.account}: transfers_to must name another account of user {a.user}"
                )
        return self

    def tolerances(self) -> Tolerances:
        return Tolerances(
            cash=self.cash_tolerance_krw,
            fee_rate=self.fee_tolerance_rate,
            too_recent=timedelta(seconds=self.too_recent_seconds),
            transfer_window=timedelta(seconds=self.transfer_match_window_seconds),
            transfer_min=self.transfer_min_krw,
            stale_after=timedelta(seconds=self.stale_after_seconds),
        )

    def users(self) -> dict[str, tuple[ReconciledAccountSettings, ...]]:
        """Configured accounts grouped by user, in configuration order."""
        return group_by_user(self.accounts)


def group_by_user(
    accounts: Iterable[ReconciledAccountSettings],
) -> dict[str, tuple[ReconciledAccountSettings, ...]]:
    grouped: dict[str, list[ReconciledAccountSettings]] = {}
    for a in accounts:
        grouped.setdefault(a.user, []).append(a)
    return {user: tuple(accounts) for user, accounts in grouped.items()}


class AccountMapping(Protocol):
    """Which accounts are reconciled and which source reads each: investor records in the
    service (orchestrator.services.investors), a fixed list in tests and tools."""

    async def reconciled_accounts(
        self, user_id: str | None = None
    ) -> Sequence[ReconciledAccountSettings]:
        """Every reconciled account, or only `user_id`'s (what one investor's task reads:
        never the whole list, which grows with the number of investors)."""
        ...


class StaticAccounts:
    """The mapping given in settings (`reconciliation.accounts`) and nothing else."""

    def __init__(self, accounts: Sequence[ReconciledAccountSettings]) -> None:
        self._accounts = tuple(accounts)
        self._by_user = group_by_user(self._accounts)

    async def reconciled_accounts(
        self, user_id: str | None = None
    ) -> tuple[ReconciledAccountSettings, ...]:
        if user_id is None:
            return self._accounts
        return self._by_user.get(user_id, ())


# --- Service -----------------------------------------------------------------------------------


@dataclass
class _UserResult:
    user_id: str
    breaks: list[BreakView] = field(default_factory=list)
    resolved: list[BreakView] = field(default_factory=list)
    pending: list[PendingView] = field(default_factory=list)
    sources: list[SourceSummary] = field(default_factory=list)
    portfolio: Portfolio | None = None
    accepted: bool = False
    error: str | None = None


class ReconcileService:
    """Runs reconciliation for every configured account of every configured user."""

    def __init__(
        self,
        *,
        settings: ReconciliationSettings,
        sources: Mapping[str, AccountSource],
        store: ReconciliationStore,
        journal: JournalReader,
        notifier: Notifier,
        clock: Clock,
        order_sources: Mapping[str, OrderListSource] | None = None,
        new_id: Callable[[], str] | None = None,
        accounts: AccountMapping | None = None,
        live_prices: Callable[[], Mapping[str, Quote]] | None = None,
    ) -> None:
        self._settings = settings
        # Fresh real-time prices (the KIS stream) value positions ahead of the reads' own.
        self._live_prices = live_prices
        # Investor records when given (the service); else the settings' list (tests, tools).
        self._mapping: AccountMapping = accounts or StaticAccounts(settings.accounts)
        self._tolerances = settings.tolerances()
        self._sources = sources
        self._order_sources = order_sources or {}
        self._store = store
        self._journal = journal
        self._notifier = notifier
        self._clock = clock
        self._new_id = new_id or (lambda: uuid.uuid4().hex)
        problems = [
            f"reconciliation.accounts: {a.account}: unknown source {a.source!r}"
            for a in settings.accounts
            if a.source not in sources
        ] + [
            f"reconciliation.accounts: {a.account}: unknown order source {a.orders!r}"
            for a in settings.accounts
            if a.orders is not None and a.orders not in self._order_sources
        ]
        if problems:
            raise ConfigError("\n".join(problems))

    async def investors(self) -> list[str]:
        """Every investor with an account to reconcile (active investors, enabled accounts)."""
        return list(group_by_user(await self._mapping.reconciled_accounts()))

    async def reconcile_investor(
        self, user_id: str, *, key: str, attempt: int = 0, trigger: str = "manual"
    ) -> str:
        """Reconcile one investor as one task of a fire (`key`); safe to run again.

        Each attempt has its own run id derived from (key, investor, attempt). An earlier
        attempt that finished means the work is done (its status is returned, nothing is read
        again); one left `running` died with its worker and is closed as an error first.
        """
        accounts = tuple(await self._mapping.reconciled_accounts(user_id))
        if not accounts:
            raise ConfigError(f"reconciliation: no accounts to reconcile for investor {user_id!r}")
        for n in range(attempt):
            run_id = task_run_id(key, user_id, n)
            status = await self._store.run_status(run_id)
            if status is None:
                continue
            if status != "running":
                log.info("reconcile.already_done", user_id=user_id, run_id=run_id)
                return status
            finished = self._clock.now()
            await self._store.finish_run(
                run_id,
                finished_at=finished,
                status="error",
                break_count=0,
                report={"errors": ["abandoned: its worker stopped before the run finished"]},
            )
            log.warning("reconcile.run_abandoned", user_id=user_id, run_id=run_id)
        # This attempt's run is started here, in the one statement that also tells whether it
        # exists: finished means done; still running means the same attempt was delivered
        # again after its worker died (the investor's lock excludes a live one), and this
        # delivery carries the run on under its id.
        run_id = task_run_id(key, user_id, attempt)
        if not await self._store.start_run(run_id, trigger=trigger, started_at=self._clock.now()):
            status = await self._store.run_status(run_id)
            if status != "running":
                log.info("reconcile.already_done", user_id=user_id, run_id=run_id)
                return status or "error"
            log.warning("reconcile.run_taken_over", user_id=user_id, run_id=run_id)
        report = await self._run(trigger, {user_id: accounts}, run_id=run_id, recorded=True)
        return report.status

    async def run_once(
        self,
        trigger: str = "manual",
        *,
        users: Sequence[str] | None = None,
        run_id: str | None = None,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> ReconciliationReport:
        """Reconcile every configured user (or only `users`) once; store and return the report.

        `progress(run_id, users_done, users_total)` is called when the run starts and after each
        user (the console's progress bar).

        Raises only when the run itself cannot be recorded (the database is down); a failing
        source, account or user is part of the report.
        """
        all_users = group_by_user(await self._mapping.reconciled_accounts())
        users_of = (
            all_users if users is None else {u: all_users[u] for u in users if u in all_users}
        )
        return await self._run(trigger, users_of, run_id=run_id, progress=progress)

    async def _run(
        self,
        trigger: str,
        users_of: Mapping[str, Sequence[ReconciledAccountSettings]],
        *,
        run_id: str | None = None,
        progress: Callable[[str, int, int], None] | None = None,
        recorded: bool = False,
    ) -> ReconciliationReport:
        """Reconcile these users under `run_id` (new when None); `recorded`: the caller has
        started the run in the store already."""
        run_id = run_id or self._new_id()
        started = self._clock.now()
        with structlog.contextvars.bound_contextvars(run_id=run_id):
            log.info(
                "reconcile.run_started",
                run_id=run_id,
                trigger=trigger,
                users=len(users_of),
                accounts=sum(len(a) for a in users_of.values()),
            )
            if not recorded and not await self._store.start_run(
                run_id, trigger=trigger, started_at=started
            ):
                raise RuntimeError(f"reconciliation run {run_id} exists already")
            # Users are independent: reconcile several at once, each waiting only on its own
            # per-user and per-key budgets; the bound keeps database writers few.
            gate = asyncio.Semaphore(self._settings.user_concurrency)
            done = 0
            if progress is not None:
                progress(run_id, 0, len(users_of))

            async def one(
                user_id: str, accounts: Sequence[ReconciledAccountSettings]
            ) -> _UserResult:
                nonlocal done
                async with gate:
                    try:
                        return await self._reconcile_user(run_id, user_id, accounts)
                    except Exception as e:  # one user's failure must not stop the others
                        log.exception("reconcile.user_failed", user_id=user_id)
                        return _UserResult(user_id, error=f"{user_id}: {describe(e)}")
                    finally:
                        done += 1
                        if progress is not None:
                            progress(run_id, done, len(users_of))

            results = list(await asyncio.gather(*(one(u, a) for u, a in users_of.items())))
            finished = self._clock.now()
            report = _report(run_id, trigger, started, finished, results)
            await self._store.finish_run(
                run_id,
                finished_at=finished,
                status=report.status,
                break_count=len(report.breaks),
                report=report.to_dict(),
            )
            log.info(
                "reconcile.run_finished",
                run_id=run_id,
                status=report.status,
                breaks=len(report.breaks),
                opened=len(report.new_breaks),
                resolved=len(report.resolved),
                pending=len(report.pending),
                accepted_users=len(report.accepted_users),
                duration_ms=int((finished - started).total_seconds() * 1000),
            )
        return report

    async def accept_baseline(self, run_id: str, *, user_id: str | None = None) -> int:
        """Operator action: take a run's successful readings as the new baseline (after checking a
        break is a legitimate change, e.g. a deposit made by hand). Returns rows accepted."""
        accounts = [
            a.account
            for a in await self._mapping.reconciled_accounts()
            if user_id is None or a.user == user_id
        ]
        count = await self._store.accept(run_id, accounts)
        log.info("reconcile.baseline_accepted", accepted_run_id=run_id, user_id=user_id, rows=count)
        return count

    async def _reconcile_user(
        self, run_id: str, user_id: str, accounts: Sequence[ReconciledAccountSettings]
    ) -> _UserResult:
        ids = [a.account for a in accounts]
        baselines = await self._store.accepted_snapshots(ids)
        now = self._clock.now()
        directory = SourceAccounts(self._sources)
        readings = await asyncio.gather(
            *(
                read_account(directory, self._plan(a, baselines.get(a.account), now), taken_at=now)
                for a in accounts
            )
        )
        windows = {a.account: self._window(baselines.get(a.account), now) for a in accounts}
        ledgers = await self._journal.ledgers(windows)
        books = [
            await self._book(a, r, baselines.get(a.account), ledgers[a.account], now)
            for a, r in zip(accounts, readings, strict=True)
        ]
        transfers = await self._journal.transfers_since(
            user_id, self._transfers_since(baselines.values(), now)
        )
        outcome = reconcile(books, transfers, now=now, tolerances=self._tolerances)
        accepted = outcome.clean and all(r.ok for r in readings)

        changes = await self._store.apply_breaks(
            run_id,
            user_id=user_id,
            account_ids=ids,
            found=outcome.breaks,
            unjudged=outcome.pending,
            now=now,
        )
        for record in changes.opened:
            log.warning(
                "reconcile.break_opened",
                run_id=run_id,
                user_id=user_id,
                kind=record.kind,
                account_id=record.account_id,
                key=record.key,
                detail=record.detail,
            )
            await self._alert(run_id, record)
        for record in changes.reopened:
            log.warning(
                "reconcile.break_reopened",
                run_id=run_id,
                user_id=user_id,
                kind=record.kind,
                account_id=record.account_id,
                key=record.key,
                reopened=record.reopened,
            )
            await self._alert(run_id, record)
        for record in changes.resolved:
            log.info(
                "reconcile.break_resolved",
                run_id=run_id,
                user_id=user_id,
                kind=record.kind,
                account_id=record.account_id,
                key=record.key,
                first_seen_at=iso_or_none(record.first_seen_at),
            )
        # Stored once the breaks are decided, as the new baselines when nothing was found: a
        # crash before this leaves the run `running`, and the task's next attempt reads again.
        await self._store.save_readings(run_id, readings, accepted=accepted)
        portfolio = await self._portfolio(user_id, readings, now)
        return _UserResult(
            user_id=user_id,
            breaks=[BreakView.of(r, new=True) for r in changes.opened]
            + [BreakView.of(r, new=True, reopened=True) for r in changes.reopened]
            + [BreakView.of(r) for r in changes.still_open]
            + [BreakView.of(r, carried=True) for r in changes.unjudged],
            resolved=[BreakView.of(r) for r in changes.resolved],
            pending=[_pending_view(user_id, p) for p in outcome.pending],
            sources=_summaries(readings, accounts, baselines, outcome, accepted=accepted),
            portfolio=portfolio,
            accepted=accepted,
        )

    def _plan(
        self, account: ReconciledAccountSettings, baseline: Snapshot | None, now: datetime
    ) -> ReadPlan:
        transactions: tuple[date, date] | None = None
        if account.transactions:
            window = self._tolerances.transfer_window
            since = (baseline.taken_at if baseline is not None else now) - window
            since = max(since, now - timedelta(days=self._settings.transaction_lookback_days))
            transactions = (to_kst(since).date(), to_kst(now).date())
        return ReadPlan(
            user_id=account.user,
            account_id=account.account,
            source=account.source,
            positions=account.positions,
            transactions=transactions,
        )

    def _orders_since(self, baseline: Snapshot | None, now: datetime) -> datetime:
        baseline_at = baseline.taken_at if baseline is not None else None
        return order_window_start(
            now, baseline_at, timedelta(days=self._settings.order_lookback_days)
        )

    def _window(self, baseline: Snapshot | None, now: datetime) -> LedgerWindow:
        """The journal an account's book needs: fills since its baseline, intents since the
        order window opened (less a margin for intents recorded just before their order)."""
        return LedgerWindow(
            fills_after=baseline.taken_at
            if baseline is not None
            else now - self._tolerances.too_recent,
            orders_from=self._orders_since(baseline, now) - _INTENT_MARGIN,
        )

    async def _book(
        self,
        account: ReconciledAccountSettings,
        reading: Reading,
        baseline: Snapshot | None,
        ledger: AccountLedger,
        now: datetime,
    ) -> AccountBook:
        orders_since = self._orders_since(baseline, now)
        fills, orders = ledger.fills, ledger.orders
        broker_orders = None
        orders_error = None
        order_source = None if account.orders is None else self._order_sources.get(account.orders)
        if account.orders is not None and order_source is None:
            orders_error = f"no order source named {account.orders!r}"
        elif order_source is not None and reading.snapshot is not None:
            try:
                broker_orders = tuple(
                    await order_source.orders_since(reading.snapshot.account, orders_since)
                )
            except Exception as e:  # a failed order list is a stale source, not a crash
                orders_error = describe(e)
                log.warning(
                    "reconcile.source_failed",
                    source=account.orders,
                    user_id=account.user,
                    account_id=account.account,
                    step="orders",
                    error=orders_error,
                )
        return AccountBook(
            reading=reading,
            baseline=baseline,
            fills=tuple(fills),
            orders=tuple(orders),
            broker_orders=broker_orders,
            orders_source=account.orders or "",
            orders_error=orders_error,
            orders_since=orders_since,
            cash_field=account.cash_field,
            transfers_to=account.transfers_to,
        )

    def _transfers_since(self, baselines: Iterable[Snapshot], now: datetime) -> datetime:
        times = [b.taken_at for b in baselines]
        start = min(times) if times else now
        return start - self._tolerances.transfer_window

    async def _alert(self, run_id: str, record: BreakRecord) -> None:
        alert = Alert(
            key=f"reconcile:{record.user_id}:{record.identity}",
            text=f"Reconciliation break {record.kind} on {record.account_id}: {record.detail}",
            severity=Severity.CRITICAL if record.kind in _CRITICAL else Severity.WARNING,
            detail={
                "run_id": run_id,
                "user_id": record.user_id,
                "kind": record.kind,
                "account_id": record.account_id,
                "key": record.key,
                "expected": text_or_none(record.expected) or "",
                "observed": text_or_none(record.observed) or "",
            },
        )
        try:
            await self._notifier.notify(alert)
        except Exception:  # Notifier must not raise; if one does, the run still completes
            log.exception("reconcile.alert_failed", kind=record.kind, account_id=record.account_id)

    async def _portfolio(
        self, user_id: str, readings: Sequence[Reading], now: datetime
    ) -> Portfolio:
        snapshots = [r.snapshot for r in readings if r.ok and r.snapshot is not None]
        failed = [r.account_id for r in readings if not r.ok]
        if failed:
            fallback = await self._store.latest_snapshots(failed)
            snapshots.extend(fallback[a] for a in failed if a in fallback)
        prices = dict(self._live_prices()) if self._live_prices is not None else None
        return consolidate(user_id, snapshots, as_of=now, prices=prices, stale_accounts=failed)


def task_run_id(key: str, user_id: str, attempt: int) -> str:
    """The reconciliation run id of one attempt of one investor's task in one fire."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"orchestrator:{key}:{user_id}:{attempt}").hex


def _pending_view(user_id: str, p: Pending) -> PendingView:
    return PendingView(
        user_id=user_id,
        account_id=p.account_id,
        kind=None if p.kind is None else p.kind.value,
        key=p.key,
        reason=p.reason,
    )


def _summaries(
    readings: Sequence[Reading],
    accounts: Sequence[ReconciledAccountSettings],
    baselines: Mapping[str, Snapshot],
    outcome: ComparisonOutcome,
    *,
    accepted: bool,
) -> list[SourceSummary]:
    expected: dict[str, ExpectedBook] = {e.account_id: e for e in outcome.expected}
    out = []
    for reading, account in zip(readings, accounts, strict=True):
        snapshot = reading.snapshot if reading.ok else None
        cash = snapshot.cash if snapshot is not None else None
        exp = expected.get(reading.account_id)
        baseline = baselines.get(reading.account_id)
        out.append(
            SourceSummary(
                user_id=reading.user_id,
                account_id=reading.account_id,
                source=reading.source,
                taken_at=reading.taken_at,
                ok=reading.ok,
                error=reading.failure,
                cash_field=account.cash_field.value,
                deposit=None if cash is None else cash.deposit,
                orderable=None if cash is None else cash.orderable,
                withdrawable=None if cash is None else cash.withdrawable,
                positions=len(snapshot.positions) if snapshot and reading.positions_read else None,
                transactions=(
                    len(snapshot.transactions) if snapshot and reading.transactions_read else None
                ),
                baseline_at=None if baseline is None else baseline.taken_at,
                expected_cash=None if exp is None else exp.expected_cash,
                observed_cash=account.cash_field.of(cash),
                accepted=accepted and reading.ok,
                cash_tolerance=None if exp is None else exp.cash_tolerance,
            )
        )
    return out


def _report(
    run_id: str,
    trigger: str,
    started: datetime,
    finished: datetime,
    results: Sequence[_UserResult],
) -> ReconciliationReport:
    breaks = tuple(b for r in results for b in r.breaks)
    pending = tuple(p for r in results for p in r.pending)
    errors = tuple(r.error for r in results if r.error is not None)
    status: ReconcileStatus
    if errors:
        status = "error"
    elif breaks:
        status = "breaks"
    elif pending:
        status = "pending"
    else:
        status = "clean"
    return ReconciliationReport(
        run_id=run_id,
        trigger=trigger,
        status=status,
        started_at=started,
        finished_at=finished,
        breaks=breaks,
        resolved=tuple(b for r in results for b in r.resolved),
        pending=pending,
        portfolios=tuple(r.portfolio for r in results if r.portfolio is not None),
        sources=tuple(s for r in results for s in r.sources),
        accepted_users=tuple(r.user_id for r in results if r.accepted),
        errors=errors,
    )


__all__ = [
    "OPEN",
    "RESOLVED",
    "AccountMapping",
    "BreakView",
    "PendingView",
    "ReconcileService",
    "ReconciledAccountSettings",
    "ReconciliationReport",
    "ReconciliationSettings",
    "SourceSummary",
    "StaticAccounts",
    "format_report",
    "format_report_dict",
    "portfolio_dict",
]
