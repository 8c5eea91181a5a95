"""What the open-banking adapter persists, on SQL (SQLite or PostgreSQL).

- `DbTokenVault`: tokens encrypted (Fernet, `TokenCipher`) in `stored_secrets`.
- `DbConsentStore`: `consents` rows; granting, refreshing and ending a consent writes the consent,
  the user token and the audit row in one transaction. The PKCE verifier is stored encrypted.
- `DbTranIdAllocator`: `bank_tran_ids`, primary key = the id. Random 9-character suffixes over
  [0-9A-Z] are inserted with ON CONFLICT DO NOTHING ... RETURNING: the database decides which
  are new, so replicas never hand out the same id; a rare collision is simply drawn again.
- `DbTransferJournal`: `transfers`, compare-and-set state changes; the daily limit is checked
  in the same transaction as the insert, serialised per payout account (an advisory lock on
  PostgreSQL; SQLite's single writer does it there, since the insert comes first).
- `DbTransactionSink`: `transactions`, unique (account_id, tx_id).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import structlog
from sqlalchemy import delete, exc, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from adapters.db.audit import append_in
from adapters.db.engine import Database
from adapters.db.secrets import TokenCipher
from adapters.db.tables import (
    BankTranIdRow,
    ConsentRow,
    StoredSecretRow,
    TransactionRow,
    TransferRow,
)
from adapters.openbanking.stores import (
    PROVIDER,
    Consent,
    ConsentState,
    NewTransfer,
    StoredToken,
    TransferRecord,
)
from orchestrator.domain.errors import GuardrailViolation, IntegrityError
from orchestrator.domain.model import AuditEvent, Transaction, TransferState
from orchestrator.domain.timeutil import to_utc

T = TypeVar("T")
log = structlog.get_logger(__name__)

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"  # spec §4: uppercase AN (lowercase: §8.4)
SUFFIX_LENGTH = 9
_MAX_DRAWS = 20
_MAX_AUDIT_RACES = 20
_UNRESOLVED = [s.value for s in TransferState if s.unresolved]


def random_suffix() -> str:
    """9 characters from a CSPRNG over [0-9A-Z]: 36^9 ≈ 10^14 per day."""
    return "".join(secrets.choice(ALPHABET) for _ in range(SUFFIX_LENGTH))


class _AuditRaced(Exception):
    pass


async def _write(db: Database, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in a transaction, again when its audit append lost a race (see audit.py)."""
    for _ in range(_MAX_AUDIT_RACES):
        try:
            async with db.session() as session:
                return await work(session)
        except _AuditRaced:
            log.debug("openbanking.audit_raced")
    raise RuntimeError("open-banking store: could not append the audit event after races")


async def _audit(session: AsyncSession, event: AuditEvent) -> None:
    try:
        await append_in(session, event)
    except exc.IntegrityError as e:
        raise _AuditRaced from e


# --- tokens -----------------------------------------------------------------------------------


def _token_json(token: StoredToken) -> str:
    return json.dumps(
        {
            "access_token": token.access_token,
            "refresh_token": token.refresh_token,
            "expires_at": to_utc(token.expires_at).isoformat(),
            "scope": token.scope,
            "user_seq_no": token.user_seq_no,
            "client_use_code": token.client_use_code,
        }
    )


def _token_of(plaintext: str) -> StoredToken:
    data = json.loads(plaintext)
    return StoredToken(
        access_token=data["access_token"],
        refresh_token=data.get("refresh_token"),
        expires_at=datetime.fromisoformat(data["expires_at"]),
        scope=data.get("scope") or "",
        user_seq_no=data.get("user_seq_no"),
        client_use_code=data.get("client_use_code"),
    )


async def _put_token(
    session: AsyncSession, cipher: TokenCipher, key: str, token: StoredToken, now: datetime
) -> None:
    ciphertext = cipher.encrypt(_token_json(token))
    meta = {"provider": PROVIDER, "scope": token.scope}
    row = await session.get(StoredSecretRow, key)
    if row is None:
        session.add(
            StoredSecretRow(
                key=key,
                ciphertext=ciphertext,
                expires_at=to_utc(token.expires_at),
                updated_at=to_utc(now),
                meta=meta,
            )
        )
    else:
        row.ciphertext = ciphertext
        row.expires_at = to_utc(token.expires_at)
        row.updated_at = to_utc(now)
        row.meta = meta
    await session.flush()


class DbTokenVault:
    """TokenVault on `stored_secrets`, encrypted with the service's keys."""

    def __init__(self, db: Database, cipher: TokenCipher) -> None:
        self._db = db
        self._cipher = cipher

    async def load(self, key: str) -> StoredToken | None:
        async with self._db.session() as session:
            row = await session.get(StoredSecretRow, key)
            if row is None:
                return None
            return _token_of(self._cipher.decrypt(row.ciphertext))

    async def save(self, key: str, token: StoredToken, *, now: datetime) -> None:
        for _ in range(2):
            try:
                async with self._db.session() as session:
                    await _put_token(session, self._cipher, key, token, now)
                return
            except exc.IntegrityError:
                continue  # another replica inserted the key first: update it instead
        raise IntegrityError(f"token vault: could not store {key}")


# --- consent ----------------------------------------------------------------------------------


class DbConsentStore:
    """ConsentStore on `consents` (+ the user token in `stored_secrets`, + the audit log)."""

    def __init__(self, db: Database, cipher: TokenCipher) -> None:
        self._db = db
        self._cipher = cipher

    async def get(self, user_id: str) -> Consent | None:
        async with self._db.autocommit() as session:
            row = await session.get(ConsentRow, (user_id, PROVIDER))
            if row is None:
                return None
            verifier = self._cipher.decrypt(row.code_verifier_enc) if row.code_verifier_enc else ""
            return Consent(
                user_id=row.user_id,
                state=ConsentState(row.state),
                updated_at=row.updated_at,
                scope=row.scope,
                user_seq_no=row.user_seq_no,
                granted_at=row.granted_at,
                expires_at=row.expires_at,
                oauth_state=row.oauth_state,
                code_verifier=verifier,
            )

    async def begin(
        self, user_id: str, *, oauth_state: str, code_verifier: str, scope: str, now: datetime
    ) -> None:
        verifier = self._cipher.encrypt(code_verifier) if code_verifier else ""

        async def work(session: AsyncSession) -> None:
            row = await self._row(session, user_id, now)
            if row.state != ConsentState.GRANTED.value:
                row.state = ConsentState.PENDING.value
                row.scope = scope
            row.oauth_state = oauth_state
            row.code_verifier_enc = verifier
            row.updated_at = to_utc(now)

        await self._retrying_insert(work)

    async def grant(
        self, user_id: str, token: StoredToken, *, token_key: str, now: datetime, audit: AuditEvent
    ) -> Consent:
        async def work(session: AsyncSession) -> None:
            row = await self._row(session, user_id, now)
            row.state = ConsentState.GRANTED.value
            row.scope = token.scope
            row.user_seq_no = token.user_seq_no or ""
            row.granted_at = to_utc(now)
            row.expires_at = to_utc(token.expires_at)
            row.oauth_state = ""
            row.code_verifier_enc = ""
            row.updated_at = to_utc(now)
            await _put_token(session, self._cipher, token_key, token, now)
            await _audit(session, audit)

        await self._retrying_insert(work)
        consent = await self.get(user_id)
        if consent is None:  # pragma: no cover - written just above
            raise IntegrityError("consent vanished after it was granted")
        return consent

    async def refresh(
        self, user_id: str, token: StoredToken, *, token_key: str, now: datetime, audit: AuditEvent
    ) -> None:
        async def work(session: AsyncSession) -> None:
            row = await session.get(ConsentRow, (user_id, PROVIDER), with_for_update=True)
            if row is None or row.state != ConsentState.GRANTED.value:
                # Ended while we refreshed: a refreshed token must not bring it back.
                log.info("openbanking.refresh_discarded", user_id=user_id)
                return
            row.expires_at = to_utc(token.expires_at)
            row.updated_at = to_utc(now)
            await _put_token(session, self._cipher, token_key, token, now)
            await _audit(session, audit)

        await _write(self._db, work)

    async def end(
        self,
        user_id: str,
        state: ConsentState,
        *,
        token_key: str,
        now: datetime,
        audit: AuditEvent,
    ) -> None:
        if state not in (ConsentState.REVOKED, ConsentState.EXPIRED):
            raise ValueError("a consent ends as revoked or expired")

        async def work(session: AsyncSession) -> None:
            await session.execute(
                update(ConsentRow)
                .where(col(ConsentRow.user_id) == user_id, col(ConsentRow.provider) == PROVIDER)
                .values(
                    state=state.value, oauth_state="", code_verifier_enc="", updated_at=to_utc(now)
                )
            )
            await session.execute(
                delete(StoredSecretRow).where(col(StoredSecretRow.key) == token_key)
            )
            await _audit(session, audit)

        await _write(self._db, work)

    async def _row(self, session: AsyncSession, user_id: str, now: datetime) -> ConsentRow:
        row = await session.get(ConsentRow, (user_id, PROVIDER), with_for_update=True)
        if row is None:
            row = ConsentRow(
                user_id=user_id,
                provider=PROVIDER,
                state=ConsentState.PENDING.value,
                updated_at=to_utc(now),
            )
            session.add(row)
            await session.flush()  # a concurrent first insert fails here, not at commit
        return row

    async def _retrying_insert(self, work: Callable[[AsyncSession], Awaitable[None]]) -> None:
        # Two first-time writers may both insert the row: the loser runs again as an update.
        for _ in range(2):
            try:
                await _write(self._db, work)
                return
            except exc.IntegrityError:
                continue
        raise IntegrityError("consent store: could not write the consent row")


# --- bank_tran_id -----------------------------------------------------------------------------


class DbTranIdAllocator:
    """TranIdAllocator on `bank_tran_ids`: ids are globally unique (stricter than per day)."""

    def __init__(self, db: Database, *, suffix: Callable[[], str] = random_suffix) -> None:
        self._db = db
        self._suffix = suffix

    async def allocate(
        self, prefix: str, *, day: str, at: datetime, count: int = 1, purpose: str = ""
    ) -> list[str]:
        if len(prefix) != 10 or not all(c in ALPHABET for c in prefix):
            raise ValueError("the prefix is the 10-character client_use_code (spec §4)")
        if count < 1:
            raise ValueError("count must be positive")
        allocated: list[str] = []
        for _ in range(_MAX_DRAWS):
            wanted = {f"{prefix}U{self._suffix()}" for _ in range(count - len(allocated))}
            stmt = (
                self._db.insert(BankTranIdRow)
                .values(
                    [
                        {
                            "bank_tran_id": candidate,
                            "day": day,
                            "purpose": purpose[:100],
                            "allocated_at": to_utc(at),
                        }
                        for candidate in sorted(wanted)
                    ]
                )
                .on_conflict_do_nothing(index_elements=["bank_tran_id"])
                .returning(col(BankTranIdRow.bank_tran_id))
            )
            async with self._db.session() as session:
                allocated.extend((await session.execute(stmt)).scalars())
            if len(allocated) >= count:
                return allocated[:count]
            log.info("openbanking.tran_id_collision", missing=count - len(allocated))
        raise IntegrityError("bank_tran_id: no free id after repeated draws")

    async def prune(self, before_day: str) -> int:
        """Forget ids of days before `before_day` (yyyyMMdd); keep at least yesterday's."""
        async with self._db.session() as session:
            result = await session.execute(
                delete(BankTranIdRow).where(col(BankTranIdRow.day) < before_day)
            )
            return int(getattr(result, "rowcount", 0) or 0)


# --- transfers --------------------------------------------------------------------------------


class _OverLimit(Exception):
    def __init__(self, spent: Decimal) -> None:
        self.spent = spent


def _lock_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class DbTransferJournal:
    """TransferJournal on `transfers`; audit rows commit with the change they record."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(
        self,
        transfer: NewTransfer,
        *,
        daily_limit: Decimal,
        day_start: datetime,
        audit: AuditEvent,
    ) -> tuple[TransferRecord, bool]:
        async def work(session: AsyncSession) -> TransferRecord:
            if self._db.dialect == "postgresql":
                lock = _lock_key(f"transfers:{transfer.from_account_id}")
                await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock})
            row = _row_of(transfer)
            session.add(row)
            await session.flush()  # on SQLite this takes the write lock before the sum is read
            amounts = (
                await session.execute(
                    select(col(TransferRow.amount)).where(
                        col(TransferRow.from_account_id) == transfer.from_account_id,
                        col(TransferRow.requested_at) >= to_utc(day_start),
                        col(TransferRow.state) != TransferState.FAILED.value,
                    )
                )
            ).scalars()
            spent = sum((a for a in amounts if a is not None), Decimal(0))
            if spent > daily_limit:
                raise _OverLimit(spent - transfer.amount)
            await _audit(session, audit)
            return _record_of(row)

        try:
            return await _write(self._db, work), True
        except _OverLimit as over:
            raise GuardrailViolation(
                "openbanking.daily_limit",
                f"{transfer.amount} KRW on top of {over.spent} KRW today exceeds the daily "
                f"limit of {daily_limit} KRW",
            ) from None
        except exc.IntegrityError:
            existing = await self.by_key(transfer.idempotency_key)
            if existing is None:
                raise
            return existing, False

    async def by_key(self, idempotency_key: str) -> TransferRecord | None:
        async with self._db.session() as session:
            row = (
                await session.execute(
                    select(TransferRow).where(col(TransferRow.idempotency_key) == idempotency_key)
                )
            ).scalar_one_or_none()
            return None if row is None else _record_of(row)

    async def update(
        self,
        transfer_id: str,
        state: TransferState,
        *,
        expect: Collection[TransferState],
        at: datetime,
        rsp_code: str | None = None,
        message: str | None = None,
        audit: AuditEvent | None = None,
    ) -> TransferRecord | None:
        values: dict[str, Any] = {"state": state.value, "updated_at": to_utc(at)}
        if rsp_code is not None:
            values["rsp_code"] = rsp_code[:10]
        if message is not None:
            values["message"] = message
        if not state.unresolved:
            values["completed_at"] = to_utc(at)

        async def work(session: AsyncSession) -> TransferRecord | None:
            stmt = (
                update(TransferRow)
                .where(
                    col(TransferRow.id) == transfer_id,
                    col(TransferRow.state).in_([s.value for s in expect]),
                )
                .values(**values)
                .returning(TransferRow)
                .execution_options(synchronize_session=False)
            )
            row = (await session.execute(stmt)).scalar_one_or_none()
            if row is None:
                return None
            if audit is not None:
                await _audit(session, audit)
            return _record_of(row)

        return await _write(self._db, work)

    async def unresolved(self, from_account_id: str) -> Sequence[TransferRecord]:
        async with self._db.session() as session:
            rows = (
                await session.execute(
                    select(TransferRow)
                    .where(
                        col(TransferRow.from_account_id) == from_account_id,
                        col(TransferRow.state).in_(_UNRESOLVED),
                    )
                    .order_by(col(TransferRow.requested_at), col(TransferRow.id))
                )
            ).scalars()
            return [_record_of(r) for r in rows]


def _row_of(transfer: NewTransfer) -> TransferRow:
    at = to_utc(transfer.requested_at)
    return TransferRow(
        id=transfer.id,
        idempotency_key=transfer.idempotency_key,
        user_id=transfer.user_id,
        from_account_id=transfer.from_account_id,
        to_account_id=transfer.to_account_id,
        amount=transfer.amount,
        state=TransferState.PENDING_SUBMIT.value,
        bank_tran_id=transfer.bank_tran_id,
        requested_at=at,
        updated_at=at,
    )


def _record_of(row: TransferRow) -> TransferRecord:
    if row.amount is None or row.bank_tran_id is None:
        raise IntegrityError(f"transfer {row.id} has no amount or bank_tran_id")
    return TransferRecord(
        id=row.id,
        idempotency_key=row.idempotency_key,
        user_id=row.user_id,
        from_account_id=row.from_account_id,
        to_account_id=row.to_account_id,
        amount=row.amount,
        state=TransferState(row.state),
        bank_tran_id=row.bank_tran_id,
        requested_at=row.requested_at,
        updated_at=row.updated_at,
        rsp_code=row.rsp_code,
        message=row.message,
        completed_at=row.completed_at,
    )


# --- transactions -----------------------------------------------------------------------------


class DbTransactionSink:
    """TransactionSink on `transactions`: a batch is one statement, duplicates are skipped."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add_many(
        self, transactions: Sequence[Transaction], *, source: str, synced_at: datetime
    ) -> int:
        if not transactions:
            return 0
        rows = [
            {
                "user_id": t.account.user_id,
                "account_id": t.account.account_id,
                "tx_id": t.tx_id,
                "source": source,
                "occurred_at": to_utc(t.occurred_at),
                "direction": t.direction.value,
                "amount": t.amount,
                "balance_after": t.balance_after,
                "description": t.description[:200],
                "synced_at": to_utc(synced_at),
            }
            for t in transactions
        ]
        # Core table, executemany: one cached statement, sent as multi-row VALUES batches.
        table = TransactionRow.__table__  # type: ignore[attr-defined]
        stmt = (
            self._db.insert(table)
            .on_conflict_do_nothing(index_elements=["account_id", "tx_id"])
            .returning(table.c.id)
        )
        async with self._db.session() as session:
            return len((await session.execute(stmt, rows)).all())

    async def count(self, account_id: str) -> int:
        async with self._db.session() as session:
            total = await session.execute(
                select(func.count()).where(col(TransactionRow.account_id) == account_id)
            )
            return int(total.scalar_one())


@dataclass(frozen=True, slots=True)
class DbOpenBankingStores:
    """Everything `adapters.openbanking.build_openbanking` persists (its `Stores` protocol)."""

    vault: DbTokenVault
    consents: DbConsentStore
    tran_ids: DbTranIdAllocator
    transfers: DbTransferJournal
    transactions: DbTransactionSink


def build_openbanking_stores(db: Database, cipher: TokenCipher) -> DbOpenBankingStores:
    return DbOpenBankingStores(
        vault=DbTokenVault(db, cipher),
        consents=DbConsentStore(db, cipher),
        tran_ids=DbTranIdAllocator(db),
        transfers=DbTransferJournal(db),
        transactions=DbTransactionSink(db),
    )
