"""Reconciliation on SQL (SQLite or PostgreSQL): runs, snapshots, breaks, and a read-only view of
our journal (order intents, fills, transfers) for the expected book.

One open break per identity is the database's job: `breaks.open_key` (user + identity) is unique
and set only while a break is open. A concurrent run that inserts the same break loses on that
constraint and the whole change is re-applied on what the winner wrote.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy import exc, or_, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer
from sqlmodel import col

from adapters.db.audit import append_in
from adapters.db.engine import Database
from adapters.db.tables import (
    BreakRow,
    FillRow,
    OrderIntentRow,
    ReconciliationRunRow,
    SnapshotRow,
    TransferRow,
)
from orchestrator.domain.breaks import (
    ACTIVE_STATUSES,
    BreakRecord,
    BreakStatus,
    Resolution,
    decide_run,
)
from orchestrator.domain.model import (
    AccountKind,
    AccountRef,
    AuditEvent,
    Break,
    CashBalance,
    Direction,
    Institution,
    OrderState,
    Position,
    Side,
    Snapshot,
    Transaction,
    TransferState,
)
from orchestrator.domain.reconciliation import (
    Pending,
    Reading,
    RecordedFill,
    RecordedOrder,
    RecordedTransfer,
)
from orchestrator.domain.timeutil import to_utc
from orchestrator.ports.reconciliation import (
    ACTIVE,
    OPEN,
    AccountLedger,
    BreakChanges,
    LedgerWindow,
    RunRecord,
)

log = structlog.get_logger(__name__)

_MAX_RACES = 3
_TERMINAL_ORDERS = [s.value for s in OrderState if s.terminal]
_TERMINAL = frozenset(_TERMINAL_ORDERS)
_UNRESOLVED_TRANSFERS = [s.value for s in TransferState if s.unresolved]
_PORTFOLIO_SEARCH_RUNS = 50
_ACTIVE = [s.value for s in ACTIVE_STATUSES]


class _Raced(Exception):
    pass


class DbReconciliationStore:
    """ReconciliationStore and ReconciliationQueries on the service database.

    A run's single-statement steps (start, readings, accept, finish) and its reads run in
    autocommit sessions (one round trip each on PostgreSQL); the break decision, which reads
    and writes together and must not interleave with another's, keeps its transaction.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    # --- runs ---------------------------------------------------------------------------------

    async def run_status(self, run_id: str) -> str | None:
        async with self._db.autocommit() as session:
            row = await session.get(ReconciliationRunRow, run_id)
            return None if row is None else row.status

    async def start_run(self, run_id: str, *, trigger: str, started_at: datetime) -> bool:
        statement = (
            self._db.insert(ReconciliationRunRow)
            .values(
                id=run_id, trigger=trigger[:100], started_at=to_utc(started_at), status="running"
            )
            .on_conflict_do_nothing(index_elements=["id"])
        )
        async with self._db.autocommit() as session:
            result = await session.execute(statement)
        return int(getattr(result, "rowcount", 0) or 0) == 1

    async def finish_run(
        self,
        run_id: str,
        *,
        finished_at: datetime,
        status: str,
        break_count: int,
        report: Mapping[str, object],
    ) -> None:
        async with self._db.autocommit() as session:
            await session.execute(
                update(ReconciliationRunRow)
                .where(col(ReconciliationRunRow.id) == run_id)
                .values(
                    finished_at=to_utc(finished_at),
                    status=status,
                    break_count=break_count,
                    report=dict(report),
                )
            )

    # --- snapshots ----------------------------------------------------------------------------

    async def save_readings(
        self, run_id: str, readings: Sequence[Reading], *, accepted: bool = False
    ) -> None:
        async with self._db.autocommit() as session:
            session.add_all([_snapshot_row(run_id, r, accepted=accepted) for r in readings])

    async def accepted_snapshots(self, account_ids: Sequence[str]) -> Mapping[str, Snapshot]:
        return await self._newest(account_ids, accepted_only=True)

    async def latest_snapshots(self, account_ids: Sequence[str]) -> Mapping[str, Snapshot]:
        return await self._newest(account_ids, accepted_only=False)

    async def _newest(
        self, account_ids: Sequence[str], *, accepted_only: bool
    ) -> dict[str, Snapshot]:
        ids = list(dict.fromkeys(account_ids))
        if not ids:
            return {}
        # One statement for all the accounts: each account's newest row (by its index), the
        # results put together with UNION ALL.
        newest = []
        for account_id in ids:
            query = select(SnapshotRow).where(
                col(SnapshotRow.account_id) == account_id,
                col(SnapshotRow.error).is_(None),
                col(SnapshotRow.institution) != "",
            )
            if accepted_only:
                query = query.where(col(SnapshotRow.accepted).is_(True))
            newest.append(
                query.order_by(col(SnapshotRow.taken_at).desc(), col(SnapshotRow.id).desc()).limit(
                    1
                )
            )
        statement = (
            newest[0]
            if len(newest) == 1
            else select(SnapshotRow).from_statement(
                union_all(*(select(q.subquery()) for q in newest))
            )
        )
        async with self._db.autocommit() as session:
            rows = (await session.execute(statement)).scalars().all()
        return {row.account_id: _snapshot_of(row) for row in rows}

    async def accept(self, run_id: str, account_ids: Sequence[str]) -> int:
        if not account_ids:
            return 0
        async with self._db.autocommit() as session:
            result = await session.execute(
                update(SnapshotRow)
                .where(
                    col(SnapshotRow.run_id) == run_id,
                    col(SnapshotRow.account_id).in_(list(account_ids)),
                    col(SnapshotRow.error).is_(None),
                    col(SnapshotRow.institution) != "",
                )
                .values(accepted=True)
            )
        return int(getattr(result, "rowcount", 0) or 0)

    # --- breaks -------------------------------------------------------------------------------

    async def apply_breaks(
        self,
        run_id: str,
        *,
        user_id: str,
        account_ids: Sequence[str],
        found: Sequence[Break],
        unjudged: Sequence[Pending],
        now: datetime,
    ) -> BreakChanges:
        for attempt in range(_MAX_RACES):
            try:
                async with self._db.session() as session:
                    return await _apply(
                        session, run_id, user_id, account_ids, found, unjudged, to_utc(now)
                    )
            except (exc.IntegrityError, _Raced):
                # Another run opened one of these breaks first, or an operator changed one:
                # decide again on top of what they wrote.
                log.info("reconcile.break_raced", attempt=attempt)
        raise RuntimeError("reconciliation: breaks kept racing; giving up this run")

    async def get_break(self, break_id: int) -> BreakRecord | None:
        async with self._db.session() as session:
            row = await session.get(BreakRow, break_id)
            return None if row is None else _break_of(row)

    async def save_break(self, record: BreakRecord, *, audit: AuditEvent) -> bool:
        try:
            async with self._db.session() as session:
                if not await _write(session, record):
                    return False
                await append_in(session, audit)
                return True
        except exc.IntegrityError:
            # A run reopened or opened the identity meanwhile (open_key), or the audit head
            # moved: the caller re-reads and decides again.
            return False

    # --- queries (operator API, CLI) ----------------------------------------------------------

    async def runs(self, *, limit: int = 20, offset: int = 0) -> Sequence[RunRecord]:
        async with self._db.session() as session:
            rows = await session.execute(
                select(ReconciliationRunRow)
                # The list never shows the report: do not fetch and parse it (the console's run
                # list pages through thousands of runs).
                .options(defer(ReconciliationRunRow.report))  # type: ignore[arg-type]
                .order_by(col(ReconciliationRunRow.started_at).desc())
                .limit(limit)
                .offset(offset)
            )
            return [_run_of(r, with_report=False) for r in rows.scalars()]

    async def run(self, run_id: str) -> RunRecord | None:
        async with self._db.session() as session:
            row = await session.get(ReconciliationRunRow, run_id)
            return None if row is None else _run_of(row, with_report=True)

    async def last_run(self, *, finished: bool = True) -> RunRecord | None:
        async with self._db.session() as session:
            query = select(ReconciliationRunRow)
            if finished:
                query = query.where(col(ReconciliationRunRow.finished_at).is_not(None))
            row = (
                (
                    await session.execute(
                        query.order_by(col(ReconciliationRunRow.started_at).desc()).limit(1)
                    )
                )
                .scalars()
                .first()
            )
            return None if row is None else _run_of(row, with_report=True)

    async def breaks(
        self,
        *,
        status: str | None = OPEN,
        user_id: str | None = None,
        kind: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Sequence[BreakRecord]:
        query = select(BreakRow)
        if status == ACTIVE:
            query = query.where(col(BreakRow.status).in_(_ACTIVE))
        elif status is not None:
            query = query.where(col(BreakRow.status) == status)
        if user_id is not None:
            query = query.where(col(BreakRow.user_id) == user_id)
        if kind is not None:
            query = query.where(col(BreakRow.kind) == kind)
        query = (
            query.order_by(col(BreakRow.first_seen_at).desc(), col(BreakRow.id).desc())
            .limit(limit)
            .offset(offset)
        )
        async with self._db.session() as session:
            return [_break_of(r) for r in (await session.execute(query)).scalars()]

    async def portfolio(self, user_id: str) -> Mapping[str, object] | None:
        async with self._db.session() as session:
            rows = await session.execute(
                select(ReconciliationRunRow)
                .where(col(ReconciliationRunRow.finished_at).is_not(None))
                .order_by(col(ReconciliationRunRow.started_at).desc())
                .limit(_PORTFOLIO_SEARCH_RUNS)
            )
            for row in rows.scalars():
                for item in (row.report or {}).get("portfolios", []):
                    if isinstance(item, dict) and item.get("user_id") == user_id:
                        return {"run_id": row.id, **item}
        return None


async def _apply(
    session: AsyncSession,
    run_id: str,
    user_id: str,
    account_ids: Sequence[str],
    found: Sequence[Break],
    unjudged: Sequence[Pending],
    now: datetime,
) -> BreakChanges:
    active = [
        _break_of(r)
        for r in (
            await session.execute(
                select(BreakRow).where(
                    col(BreakRow.user_id) == user_id,
                    col(BreakRow.status).in_(_ACTIVE),
                    col(BreakRow.account_id).in_(list(account_ids)),
                )
            )
        ).scalars()
    ]
    known = {r.identity for r in active}
    wanted = sorted({b.identity for b in found} - known)
    manual: dict[str, BreakRecord] = {}
    if wanted:
        rows = await session.execute(
            select(BreakRow)
            .where(col(BreakRow.user_id) == user_id, col(BreakRow.identity).in_(wanted))
            .order_by(col(BreakRow.id).desc())
        )
        for row in rows.scalars():
            # Only the newest record of an identity counts; it reopens if resolved by hand.
            manual.setdefault(row.identity, _break_of(row))
    decision = decide_run(
        active,
        found,
        unjudged,
        user_id=user_id,
        run_id=run_id,
        now=now,
        manually_resolved=manual,
    )
    opened = [await _insert(session, r) for r in decision.opened]
    for record in decision.kept + decision.reopened + decision.cleared:
        if not await _write(session, record):
            raise _Raced  # an operator or another run changed it: decide again on fresh rows
    await session.flush()
    return BreakChanges(
        opened=tuple(opened),
        still_open=decision.kept,
        resolved=decision.cleared,
        unjudged=decision.unjudged,
        reopened=decision.reopened,
    )


def _open_key(record: BreakRecord) -> str | None:
    # Set only while active: its unique index keeps one active record per identity.
    return f"{record.user_id}:{record.identity}" if record.active else None


def _values(record: BreakRecord) -> dict[str, Any]:
    return {
        "open_key": _open_key(record),
        "detail": record.detail,
        "expected": record.expected,
        "observed": record.observed,
        "status": record.status.value,
        "last_run_id": record.last_run_id,
        "last_seen_at": to_utc(record.last_seen_at),
        "resolved_at": None if record.resolved_at is None else to_utc(record.resolved_at),
        "resolution": None if record.resolution is None else record.resolution.value,
        "acknowledged_at": (
            None if record.acknowledged_at is None else to_utc(record.acknowledged_at)
        ),
        "acknowledged_by": record.acknowledged_by,
        "resolved_by": record.resolved_by,
        "note": record.note,
        "reopened": record.reopened,
        "version": record.version,
    }


async def _insert(session: AsyncSession, record: BreakRecord) -> BreakRecord:
    row = BreakRow(
        identity=record.identity,
        kind=record.kind,
        user_id=record.user_id,
        account_id=record.account_id,
        key=record.key,
        first_run_id=record.first_run_id,
        first_seen_at=to_utc(record.first_seen_at),
        **_values(record),
    )
    session.add(row)
    await session.flush()
    return _break_of(row)


async def _write(session: AsyncSession, record: BreakRecord) -> bool:
    """Compare-and-set on `version`: the row must still be the one the decision started from."""
    assert record.id is not None
    result = await session.execute(
        update(BreakRow)
        .where(col(BreakRow.id) == record.id, col(BreakRow.version) == record.version - 1)
        .values(**_values(record))
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0) == 1


class DbJournalReader:
    """JournalReader on the order journal and transfer tables (read-only)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def fills_since(self, account_id: str, since: datetime) -> Sequence[RecordedFill]:
        async with self._db.autocommit() as session:
            rows = await session.execute(
                select(FillRow)
                .where(
                    col(FillRow.account_id) == account_id,
                    col(FillRow.filled_at) > to_utc(since),
                )
                .order_by(col(FillRow.filled_at), col(FillRow.id))
            )
            return [_fill_of(r) for r in rows.scalars()]

    async def orders_since(self, account_id: str, since: datetime) -> Sequence[RecordedOrder]:
        async with self._db.autocommit() as session:
            rows = await session.execute(
                select(OrderIntentRow)
                .where(
                    col(OrderIntentRow.account_id) == account_id,
                    or_(
                        col(OrderIntentRow.created_at) >= to_utc(since),
                        col(OrderIntentRow.state).not_in(_TERMINAL_ORDERS),
                    ),
                )
                .order_by(col(OrderIntentRow.created_at))
            )
            return [_order_of(r) for r in rows.scalars()]

    async def ledgers(self, windows: Mapping[str, LedgerWindow]) -> Mapping[str, AccountLedger]:
        if not windows:
            return {}
        ids = list(windows)
        # Each read covers the widest window of the accounts; rows are then kept per account.
        fills_after = to_utc(min(w.fills_after for w in windows.values()))
        orders_from = to_utc(min(w.orders_from for w in windows.values()))
        async with self._db.autocommit() as session:
            fill_rows = (
                await session.execute(
                    select(FillRow)
                    .where(
                        col(FillRow.account_id).in_(ids),
                        col(FillRow.filled_at) > fills_after,
                    )
                    .order_by(col(FillRow.filled_at), col(FillRow.id))
                )
            ).scalars()
            fills: dict[str, list[RecordedFill]] = {a: [] for a in ids}
            for r in fill_rows:
                if r.filled_at > windows[r.account_id].fills_after:
                    fills[r.account_id].append(_fill_of(r))
            order_rows = (
                await session.execute(
                    select(OrderIntentRow)
                    .where(
                        col(OrderIntentRow.account_id).in_(ids),
                        or_(
                            col(OrderIntentRow.created_at) >= orders_from,
                            col(OrderIntentRow.state).not_in(_TERMINAL_ORDERS),
                        ),
                    )
                    .order_by(col(OrderIntentRow.created_at))
                )
            ).scalars()
            orders: dict[str, list[RecordedOrder]] = {a: [] for a in ids}
            for o in order_rows:
                if o.created_at >= windows[o.account_id].orders_from or o.state not in _TERMINAL:
                    orders[o.account_id].append(_order_of(o))
        return {a: AccountLedger(tuple(fills[a]), tuple(orders[a])) for a in ids}

    async def transfers_since(self, user_id: str, since: datetime) -> Sequence[RecordedTransfer]:
        moment = to_utc(since)
        async with self._db.autocommit() as session:
            rows = await session.execute(
                select(TransferRow)
                .where(
                    col(TransferRow.user_id) == user_id,
                    or_(
                        col(TransferRow.requested_at) > moment,
                        col(TransferRow.completed_at) > moment,
                        col(TransferRow.state).in_(_UNRESOLVED_TRANSFERS),
                    ),
                )
                .order_by(col(TransferRow.requested_at))
            )
            return [
                RecordedTransfer(
                    id=r.id,
                    from_account_id=r.from_account_id,
                    to_account_id=r.to_account_id,
                    amount=r.amount if r.amount is not None else Decimal(0),
                    state=TransferState(r.state),
                    requested_at=r.requested_at,
                    completed_at=r.completed_at,
                )
                for r in rows.scalars()
            ]


# --- rows <-> domain --------------------------------------------------------------------------


def _snapshot_row(run_id: str, reading: Reading, *, accepted: bool = False) -> SnapshotRow:
    snapshot = reading.snapshot
    account = snapshot.account if snapshot is not None else None
    cash = snapshot.cash if snapshot is not None and reading.ok else None
    ok = reading.ok and snapshot is not None
    return SnapshotRow(
        run_id=run_id,
        user_id=reading.user_id,
        account_id=reading.account_id,
        institution=account.institution.value if account is not None else "",
        account_kind=account.kind.value if account is not None else "",
        masked_number=account.masked_number if account is not None else "",
        source=reading.source,
        taken_at=to_utc(reading.taken_at),
        deposit=None if cash is None else cash.deposit,
        orderable=None if cash is None else cash.orderable,
        withdrawable=None if cash is None else cash.withdrawable,
        positions=[_position_json(p) for p in snapshot.positions] if ok and snapshot else None,
        transactions=(
            [_transaction_json(t) for t in snapshot.transactions] if ok and snapshot else None
        ),
        positions_read=reading.positions_read,
        transactions_read=reading.transactions_read,
        error=reading.failure,
        # Only a successful reading can be a baseline (what `accept` marks, too).
        accepted=accepted and ok and account is not None,
    )


def _position_json(p: Position) -> dict[str, Any]:
    return {
        "symbol": p.symbol,
        "name": p.name,
        "quantity": p.quantity,
        "avg_price": str(p.avg_price),
        "last_price": None if p.last_price is None else str(p.last_price),
        "as_of": to_utc(p.as_of).isoformat(),
    }


def _transaction_json(t: Transaction) -> dict[str, Any]:
    return {
        "tx_id": t.tx_id,
        "occurred_at": to_utc(t.occurred_at).isoformat(),
        "direction": t.direction.value,
        "amount": str(t.amount),
        "balance_after": None if t.balance_after is None else str(t.balance_after),
    }


def _snapshot_of(row: SnapshotRow) -> Snapshot:
    account = AccountRef(
        user_id=row.user_id,
        account_id=row.account_id,
        institution=Institution(row.institution),
        kind=AccountKind(row.account_kind),
        external_ref="",
        masked_number=row.masked_number,
    )
    cash = None
    if row.deposit is not None:
        cash = CashBalance(
            account=account,
            deposit=row.deposit,
            as_of=row.taken_at,
            orderable=row.orderable,
            withdrawable=row.withdrawable,
        )
    positions = tuple(
        Position(
            account=account,
            symbol=str(p["symbol"]),
            quantity=int(p["quantity"]),
            avg_price=Decimal(str(p["avg_price"])),
            as_of=datetime.fromisoformat(str(p["as_of"])),
            name=str(p.get("name") or ""),
            last_price=None if p.get("last_price") is None else Decimal(str(p["last_price"])),
        )
        for p in row.positions or []
    )
    transactions = tuple(
        Transaction(
            account=account,
            tx_id=str(t["tx_id"]),
            occurred_at=datetime.fromisoformat(str(t["occurred_at"])),
            direction=Direction(t["direction"]),
            amount=Decimal(str(t["amount"])),
            balance_after=(
                None if t.get("balance_after") is None else Decimal(str(t["balance_after"]))
            ),
        )
        for t in row.transactions or []
    )
    return Snapshot(
        account=account,
        source=row.source,
        taken_at=row.taken_at,
        cash=cash,
        positions=positions,
        transactions=transactions,
    )


def _fill_of(r: FillRow) -> RecordedFill:
    return RecordedFill(
        intent_id=r.intent_id,
        account_id=r.account_id,
        symbol=r.symbol,
        side=Side(r.side),
        quantity=r.quantity,
        filled_at=r.filled_at,
        price=r.price,
    )


def _order_of(r: OrderIntentRow) -> RecordedOrder:
    return RecordedOrder(
        intent_id=r.id,
        account_id=r.account_id,
        symbol=r.symbol,
        side=Side(r.side),
        quantity=r.quantity,
        state=OrderState(r.state),
        created_at=r.created_at,
        updated_at=r.updated_at,
        broker_order_id=r.broker_order_id,
        broker_order_day=r.broker_order_day,
        filled_quantity=r.filled_quantity,
    )


def _break_of(r: BreakRow) -> BreakRecord:
    assert r.id is not None  # flushed
    return BreakRecord(
        id=r.id,
        user_id=r.user_id,
        kind=r.kind,
        account_id=r.account_id,
        key=r.key,
        detail=r.detail,
        status=BreakStatus(r.status),
        first_run_id=r.first_run_id,
        last_run_id=r.last_run_id,
        first_seen_at=r.first_seen_at,
        last_seen_at=r.last_seen_at,
        expected=r.expected,
        observed=r.observed,
        resolved_at=r.resolved_at,
        resolution=None if r.resolution is None else Resolution(r.resolution),
        acknowledged_at=r.acknowledged_at,
        acknowledged_by=r.acknowledged_by,
        resolved_by=r.resolved_by,
        note=r.note,
        reopened=r.reopened,
        version=r.version,
    )


def _run_of(r: ReconciliationRunRow, *, with_report: bool) -> RunRecord:
    return RunRecord(
        id=r.id,
        trigger=r.trigger,
        started_at=r.started_at,
        status=r.status,
        break_count=r.break_count,
        finished_at=r.finished_at,
        report=r.report if with_report else None,
    )
