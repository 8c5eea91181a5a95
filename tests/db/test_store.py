"""The store suite: runs on SQLite and on the real PostgreSQL (see the `db` fixture)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import select, update

from adapters.db import migrate
from adapters.db.audit import DbAuditLog
from adapters.db.engine import Database
from adapters.db.secrets import SecretStore, TokenCipher
from adapters.db.tables import AuditEventRow, OrderIntentRow, StoredSecretRow
from orchestrator.domain.errors import IntegrityError
from orchestrator.domain.model import AuditEvent

NOW = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)


def _event(i: int) -> AuditEvent:
    return AuditEvent(
        at=NOW + timedelta(seconds=i),
        actor="test",
        action="consent.granted",
        subject=f"user-{i}",
        detail={"n": str(i)},
    )


async def test_models_and_migrations_agree(db: Database) -> None:
    """Autogenerate finds no difference between the SQLModel tables and the migrated schema."""
    assert await migrate.drift(db) == []
    assert await migrate.is_current(db)


async def test_audit_chain_verifies_and_detects_an_edited_row(db: Database) -> None:
    """An intact chain verifies; editing one row is reported at that row."""
    audit = DbAuditLog(db)
    for i in range(5):
        await audit.append(_event(i))
    assert (await audit.verify()).ok

    async with db.session() as s:
        await s.execute(
            update(AuditEventRow).where(AuditEventRow.seq == 3).values(subject="someone-else")
        )  # type: ignore[arg-type]

    report = await audit.verify()
    assert not report.ok
    assert report.first_broken_seq == 3


async def test_audit_chain_detects_a_deleted_row(db: Database) -> None:
    """Deleting a row breaks the link of the next one."""
    audit = DbAuditLog(db)
    for i in range(4):
        await audit.append(_event(i))

    async with db.session() as s:
        row = await s.get(AuditEventRow, 2)
        await s.delete(row)

    assert (await audit.verify()).first_broken_seq == 3


async def test_concurrent_appends_keep_one_linear_chain(db: Database) -> None:
    """Racing writers never fork the chain: every event lands and the chain verifies."""
    audit = DbAuditLog(db)

    await asyncio.gather(*(audit.append(_event(i)) for i in range(20)))

    report = await audit.verify()
    assert report.ok
    assert report.checked == 20


async def test_money_round_trips_exactly(db: Database) -> None:
    """Decimal money survives storage exactly on both engines (no float on the way)."""
    price = Decimal("123456789012.3456")
    async with db.session() as s:
        s.add(
            OrderIntentRow(
                id="i1",
                idempotency_key="k1",
                user_id="demo",
                account_id="kis",
                broker="kis",
                symbol="005930",
                side="buy",
                quantity=1,
                order_type="limit",
                limit_price=price,
                state="pending_submit",
                created_at=NOW,
                updated_at=NOW,
            )
        )

    async with db.session() as s:
        row = await s.get(OrderIntentRow, "i1")
    assert row is not None
    assert row.limit_price == price
    assert row.created_at == NOW
    assert row.created_at.tzinfo is not None


async def test_idempotency_key_is_unique(db: Database) -> None:
    """Two intents with the same idempotency key cannot both be recorded."""
    from sqlalchemy.exc import IntegrityError as SAIntegrityError

    def row(i: str) -> OrderIntentRow:
        return OrderIntentRow(
            id=i,
            idempotency_key="same",
            user_id="demo",
            account_id="kis",
            broker="kis",
            symbol="005930",
            side="buy",
            quantity=1,
            order_type="market",
            state="pending_submit",
            created_at=NOW,
            updated_at=NOW,
        )

    async with db.session() as s:
        s.add(row("a"))
    with pytest.raises(SAIntegrityError):
        async with db.session() as s:
            s.add(row("b"))


async def test_secrets_are_encrypted_at_rest_and_rotate(db: Database) -> None:
    """Stored tokens are unreadable in the table; rotation re-encrypts under the new key."""
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    store = SecretStore(db, TokenCipher([SecretStr(old)]))
    await store.put("kis:token", "the-access-token", now=NOW, expires_at=NOW + timedelta(hours=24))
    async with db.session() as s:
        raw = (await s.execute(select(StoredSecretRow.ciphertext))).scalar_one()
    assert "the-access-token" not in raw

    rotated = SecretStore(db, TokenCipher([SecretStr(new), SecretStr(old)]))
    assert await rotated.rotate_all() == 1

    only_new = SecretStore(db, TokenCipher([SecretStr(new)]))
    value = await only_new.get("kis:token")
    assert value is not None
    assert value[0] == "the-access-token"
    assert value[1] == NOW + timedelta(hours=24)
    with pytest.raises(IntegrityError):
        await SecretStore(db, TokenCipher([SecretStr(old)])).get("kis:token")
