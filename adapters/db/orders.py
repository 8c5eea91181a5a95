"""The order intent journal on SQL (SQLite or PostgreSQL), behind the OrderJournal port.

Uniqueness is left to the database: the idempotency key, the (account, day, broker order id) claim
and the (intent, cumulative quantity) fill are unique constraints, so concurrent writers in any
number of processes cannot record one thing twice. State changes are `UPDATE ... WHERE state IN
(...)`, never read-then-write, because a read outside the write lock may already be stale.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any, TypeVar

import structlog
from sqlalchemy import exc, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from adapters.db.audit import append_in
from adapters.db.engine import Database
from adapters.db.secrets import TokenCipher
from adapters.db.tables import FillRow, OrderIntentRow
from orchestrator.domain.model import (
    AccountKind,
    AccountRef,
    AuditEvent,
    Fill,
    Institution,
    OrderIntent,
    OrderState,
    OrderType,
    Side,
)
from orchestrator.domain.timeutil import to_utc
from orchestrator.ports.orders import (
    CancelState,
    FillIncrement,
    OrderAlreadyClaimed,
    OrderChange,
    OrderQuery,
    OrderRecord,
)

T = TypeVar("T")
log = structlog.get_logger(__name__)

# Racing audit writers lose on the unique prev_hash and retry on the new head (see audit.py).
_MAX_AUDIT_RACES = 20
# Every Fernet token starts with its version byte 0x80, base64 "gAAAAA".
_FERNET_PREFIX = "gAAAAA"
_UNRESOLVED_STATES = [s.value for s in OrderState if s.unresolved]
_UNRESOLVED_CANCELS = [s.value for s in CancelState if s.unresolved]


class _AuditRaced(Exception):
    pass


class DbOrderJournal:
    """OrderJournal on the service database; audit events join the same transaction."""

    def __init__(self, db: Database, cipher: TokenCipher) -> None:
        self._db = db
        # Account numbers are encrypted at rest: recovery needs the full number to ask the broker
        # about exactly that account, nothing else does.
        self._cipher = cipher

    async def record(
        self, intent: OrderIntent, *, broker: str, audit: AuditEvent
    ) -> tuple[OrderRecord, bool]:
        async def work(session: AsyncSession) -> OrderRecord:
            row = _row_of(intent, broker, self._cipher)
            session.add(row)
            await session.flush()
            await _audit(session, audit)
            return _record_of(row, self._cipher)

        try:
            return await self._write(work), True
        except exc.IntegrityError:
            # Only the idempotency key (or the id) can collide: somebody recorded it first.
            existing = await self.by_key(intent.idempotency_key)
            if existing is None:
                raise
            return existing, False

    async def get(self, intent_id: str) -> OrderRecord | None:
        async with self._db.session() as session:
            row = await session.get(OrderIntentRow, intent_id)
            return None if row is None else _record_of(row, self._cipher)

    async def by_key(self, idempotency_key: str) -> OrderRecord | None:
        async with self._db.session() as session:
            row = (
                await session.execute(
                    select(OrderIntentRow).where(
                        col(OrderIntentRow.idempotency_key) == idempotency_key
                    )
                )
            ).scalar_one_or_none()
            return None if row is None else _record_of(row, self._cipher)

    async def update(
        self,
        intent_id: str,
        change: OrderChange,
        *,
        expect: Collection[OrderState],
        expect_cancel: Collection[CancelState | None] | None = None,
        audit: AuditEvent | None = None,
    ) -> OrderRecord | None:
        async def work(session: AsyncSession) -> OrderRecord | None:
            row = await _compare_and_set(session, intent_id, change, expect, expect_cancel)
            if row is not None and audit is not None:
                await _audit(session, audit)
            return None if row is None else _record_of(row, self._cipher)

        return await self._write(work)

    async def record_fill(
        self,
        intent_id: str,
        fill: FillIncrement,
        change: OrderChange,
        *,
        expect: Collection[OrderState],
        audit: AuditEvent | None = None,
    ) -> OrderRecord | None:
        async def work(session: AsyncSession) -> OrderRecord | None:
            before = fill.cumulative_quantity - fill.quantity
            stmt = (
                update(OrderIntentRow)
                .where(
                    col(OrderIntentRow.id) == intent_id,
                    col(OrderIntentRow.filled_quantity) == before,
                    col(OrderIntentRow.state).in_([s.value for s in expect]),
                )
                .values(**_values_of(change))
                .returning(OrderIntentRow)
                .execution_options(synchronize_session=False)
            )
            row = (await session.execute(stmt)).scalar_one_or_none()
            if row is None:
                return None
            session.add(
                FillRow(
                    intent_id=intent_id,
                    account_id=row.account_id,
                    symbol=row.symbol,
                    side=row.side,
                    quantity=fill.quantity,
                    cumulative_quantity=fill.cumulative_quantity,
                    price=fill.price,
                    filled_at=to_utc(fill.filled_at),
                )
            )
            if audit is not None:
                await _audit(session, audit)
            await session.flush()
            return _record_of(row, self._cipher)

        try:
            return await self._write(work)
        except exc.IntegrityError:
            # The compare-and-set on filled_quantity already serialises writers; the unique fill
            # row is the second lock, for a writer that bypassed the journal.
            log.warning("orders.fill_conflict", intent_id=intent_id)
            return None

    async def unresolved(self, broker: str) -> Sequence[OrderRecord]:
        stmt = (
            select(OrderIntentRow)
            .where(
                col(OrderIntentRow.broker) == broker,
                col(OrderIntentRow.state).in_(_UNRESOLVED_STATES)
                | col(OrderIntentRow.cancel_state).in_(_UNRESOLVED_CANCELS),
            )
            .order_by(col(OrderIntentRow.created_at), col(OrderIntentRow.id))
        )
        return await self._select(stmt)

    async def with_broker_orders(self, account_id: str, since: datetime) -> Sequence[OrderRecord]:
        stmt = (
            select(OrderIntentRow)
            .where(
                col(OrderIntentRow.account_id) == account_id,
                col(OrderIntentRow.created_at) >= to_utc(since),
                col(OrderIntentRow.broker_order_id).is_not(None),
            )
            .order_by(col(OrderIntentRow.created_at), col(OrderIntentRow.id))
        )
        return await self._select(stmt)

    async def find(self, query: OrderQuery) -> Sequence[OrderRecord]:
        stmt = select(OrderIntentRow)
        if query.user_id is not None:
            stmt = stmt.where(col(OrderIntentRow.user_id) == query.user_id)
        if query.account_id is not None:
            stmt = stmt.where(col(OrderIntentRow.account_id) == query.account_id)
        if query.states is not None:
            stmt = stmt.where(col(OrderIntentRow.state).in_([s.value for s in query.states]))
        if query.since is not None:
            stmt = stmt.where(col(OrderIntentRow.created_at) >= to_utc(query.since))
        stmt = (
            stmt.order_by(col(OrderIntentRow.created_at).desc(), col(OrderIntentRow.id).desc())
            .limit(query.limit)
            .offset(query.offset)
        )
        return await self._select(stmt)

    async def fills(self, intent_id: str) -> Sequence[Fill]:
        async with self._db.session() as session:
            intent = await session.get(OrderIntentRow, intent_id)
            if intent is None:
                return []
            rows = (
                await session.execute(
                    select(FillRow)
                    .where(col(FillRow.intent_id) == intent_id)
                    .order_by(col(FillRow.cumulative_quantity))
                )
            ).scalars()
            account = _account_of(intent, self._cipher)
            return [
                Fill(
                    order_id=intent.broker_order_id or "",
                    account=account,
                    symbol=row.symbol,
                    side=Side(row.side),
                    quantity=row.quantity,
                    price=row.price,
                    filled_at=row.filled_at,
                )
                for row in rows
                if row.price is not None
            ]

    async def _select(self, stmt: Any) -> list[OrderRecord]:
        async with self._db.session() as session:
            return [
                _record_of(row, self._cipher) for row in (await session.execute(stmt)).scalars()
            ]

    async def _write(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        for _ in range(_MAX_AUDIT_RACES):
            try:
                async with self._db.session() as session:
                    return await work(session)
            except _AuditRaced:
                log.debug("orders.audit_raced")
        raise RuntimeError("order journal: could not append the audit event after repeated races")


async def _compare_and_set(
    session: AsyncSession,
    intent_id: str,
    change: OrderChange,
    expect: Collection[OrderState],
    expect_cancel: Collection[CancelState | None] | None,
) -> OrderIntentRow | None:
    conditions = [
        col(OrderIntentRow.id) == intent_id,
        col(OrderIntentRow.state).in_([s.value for s in expect]),
    ]
    if expect_cancel is not None:
        named = [c.value for c in expect_cancel if c is not None]
        cancel_column = col(OrderIntentRow.cancel_state)
        if None in expect_cancel:
            conditions.append(cancel_column.in_(named) | cancel_column.is_(None))
        else:
            conditions.append(cancel_column.in_(named))
    stmt = (
        update(OrderIntentRow)
        .where(*conditions)
        .values(**_values_of(change))
        .returning(OrderIntentRow)
        .execution_options(synchronize_session=False)
    )
    try:
        row = (await session.execute(stmt)).scalar_one_or_none()
    except exc.IntegrityError as e:
        if change.broker_order_id is None:
            raise
        raise OrderAlreadyClaimed(
            f"broker order {change.broker_order_id} of {change.broker_order_day} is claimed"
        ) from e
    return row


async def _audit(session: AsyncSession, event: AuditEvent) -> None:
    try:
        await append_in(session, event)
    except exc.IntegrityError as e:
        raise _AuditRaced from e


def _values_of(change: OrderChange) -> dict[str, Any]:
    values: dict[str, Any] = {"updated_at": to_utc(change.at)}
    for f in fields(change):
        if f.name == "at":
            continue
        value = getattr(change, f.name)
        if value is None:
            continue
        if isinstance(value, datetime):
            value = to_utc(value)
        elif isinstance(value, OrderState | CancelState):
            value = value.value
        values[f.name] = value
    return values


def _row_of(intent: OrderIntent, broker: str, cipher: TokenCipher) -> OrderIntentRow:
    account = intent.account
    created = to_utc(intent.created_at)
    return OrderIntentRow(
        id=intent.id,
        idempotency_key=intent.idempotency_key,
        user_id=account.user_id,
        account_id=account.account_id,
        institution=account.institution.value,
        account_kind=account.kind.value,
        external_ref=cipher.encrypt(account.external_ref) if account.external_ref else "",
        masked_number=account.masked_number,
        broker=broker,
        symbol=intent.symbol,
        side=intent.side.value,
        quantity=intent.quantity,
        order_type=intent.order_type.value,
        limit_price=intent.limit_price,
        state=OrderState.PENDING_SUBMIT.value,
        origin=intent.origin,
        created_at=created,
        updated_at=created,
    )


def _account_of(row: OrderIntentRow, cipher: TokenCipher) -> AccountRef:
    return AccountRef(
        user_id=row.user_id,
        account_id=row.account_id,
        institution=Institution(row.institution),
        kind=AccountKind(row.account_kind),
        external_ref=reveal_account_number(row.external_ref, cipher),
        masked_number=row.masked_number,
    )


def reveal_account_number(stored: str, cipher: TokenCipher) -> str:
    """The account number from its stored form (a Fernet token; plain text only in rows written
    before migration 0004 that `encrypt_account_numbers` has not reached yet)."""
    if stored.startswith(_FERNET_PREFIX):
        return cipher.decrypt(stored)
    return stored


async def encrypt_account_numbers(db: Database, cipher: TokenCipher) -> int:
    """Encrypt account numbers stored in plain text by earlier versions; returns how many."""
    async with db.session() as session:
        rows = (
            await session.execute(
                select(OrderIntentRow).where(
                    col(OrderIntentRow.external_ref) != "",
                    ~col(OrderIntentRow.external_ref).startswith(_FERNET_PREFIX),
                )
            )
        ).scalars()
        count = 0
        for row in rows:
            row.external_ref = cipher.encrypt(row.external_ref)
            count += 1
    return count


def _record_of(row: OrderIntentRow, cipher: TokenCipher) -> OrderRecord:
    intent = OrderIntent(
        id=row.id,
        idempotency_key=row.idempotency_key,
        account=_account_of(row, cipher),
        symbol=row.symbol,
        side=Side(row.side),
        quantity=row.quantity,
        order_type=OrderType(row.order_type),
        created_at=row.created_at,
        limit_price=row.limit_price,
        origin=row.origin,
    )
    return OrderRecord(
        intent=intent,
        broker=row.broker,
        state=OrderState(row.state),
        updated_at=row.updated_at,
        attempts=row.attempts,
        broker_order_id=row.broker_order_id,
        broker_order_day=row.broker_order_day,
        branch=row.branch,
        filled_quantity=row.filled_quantity,
        avg_fill_price=row.avg_fill_price,
        reject_code=row.reject_code,
        last_error=row.last_error,
        submitted_at=row.submitted_at,
        resolved_at=row.resolved_at,
        cancel_requested_at=row.cancel_requested_at,
        cancel_state=None if row.cancel_state is None else CancelState(row.cancel_state),
    )
