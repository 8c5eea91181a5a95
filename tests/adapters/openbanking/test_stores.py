"""The database side (adapters.db.openbanking) on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from adapters.db.audit import DbAuditLog
from adapters.db.engine import Database
from adapters.db.openbanking import (
    DbConsentStore,
    DbTokenVault,
    DbTranIdAllocator,
    DbTransactionSink,
    DbTransferJournal,
)
from adapters.fake import FakeClock
from adapters.openbanking.client import TranIds
from adapters.openbanking.stores import ConsentState, NewTransfer, StoredToken
from orchestrator.domain.errors import GuardrailViolation
from orchestrator.domain.model import AuditEvent, Direction, Transaction, TransferState

from .conftest import CMA, account_ref, cipher

NOW = datetime(2026, 3, 10, 1, 0, tzinfo=UTC)
ID_RE = re.compile(r"^T990000001U[0-9A-Z]{9}$")


def _audit(action: str) -> AuditEvent:
    return AuditEvent(at=NOW, actor="test", action=action, subject="s")


def _transfer(n: int, amount: int = 1_000_000, key: str | None = None) -> NewTransfer:
    return NewTransfer(
        id=f"t{n}",
        idempotency_key=key or f"key-{n}",
        user_id="demo",
        from_account_id="openbanking-payout",
        to_account_id="ob-cma",
        amount=Decimal(amount),
        bank_tran_id=f"T990000001U{n:09d}",
        requested_at=NOW,
    )


async def test_200_concurrent_allocations_never_collide(db: Database) -> None:
    """200 allocations racing on one database: 200 distinct, well-formed ids."""
    allocator = DbTranIdAllocator(db)

    batches = await asyncio.gather(
        *(allocator.allocate("T990000001", day="20260310", at=NOW) for _ in range(200))
    )

    ids = [i for batch in batches for i in batch]
    assert len(ids) == 200 == len(set(ids))
    assert all(ID_RE.fullmatch(i) for i in ids)


async def test_two_allocators_like_two_replicas_never_collide(db: Database) -> None:
    """Two allocators whose random draws collide on purpose: the database still keeps ids apart."""
    draws = itertools.cycle(["AAAAAAAAA", "AAAAAAAAA", "BBBBBBBBB", "CCCCCCCCC"])
    one, two = (DbTranIdAllocator(db, suffix=lambda: next(draws)) for _ in range(2))

    first = await one.allocate("T990000001", day="20260310", at=NOW)
    second = await two.allocate("T990000001", day="20260310", at=NOW)

    assert first != second
    assert {*first, *second} <= {"T990000001UAAAAAAAAA", "T990000001UBBBBBBBBB"}


async def test_blocks_are_allocated_in_one_round_trip(db: Database) -> None:
    """Inquiry ids come in blocks: 30 ids from blocks of 25 are two allocations."""
    calls: list[int] = []
    allocator = DbTranIdAllocator(db)

    class Counting:
        async def allocate(self, prefix: str, **kw: object) -> list[str]:
            calls.append(int(kw["count"]))  # type: ignore[call-overload]
            return await allocator.allocate(prefix, **kw)  # type: ignore[arg-type]

    ids = TranIds(Counting(), "T990000001", FakeClock(NOW), block=25)

    got = [await ids.for_inquiry() for _ in range(30)]

    assert calls == [25, 25]
    assert len({i for i, _ in got}) == 30
    assert {stamp for _, stamp in got} == {"20260310100000"}


async def test_prune_forgets_old_days(db: Database) -> None:
    """Ids of past days can be pruned; today's stay."""
    allocator = DbTranIdAllocator(db)
    await allocator.allocate("T990000001", day="20260309", at=NOW, count=3)
    await allocator.allocate("T990000001", day="20260310", at=NOW, count=2)

    assert await allocator.prune("20260310") == 3


async def test_allocator_refuses_a_bad_prefix(db: Database) -> None:
    """The prefix must be a 10-character uppercase client_use_code."""
    with pytest.raises(ValueError):
        await DbTranIdAllocator(db).allocate("t99", day="20260310", at=NOW)


async def test_daily_limit_holds_under_concurrency(db: Database) -> None:
    """Ten racing 1M transfers against a 3M daily limit: exactly three are recorded."""
    journal = DbTransferJournal(db)

    async def one(n: int) -> bool:
        try:
            await journal.record(
                _transfer(n),
                daily_limit=Decimal(3_000_000),
                day_start=NOW - timedelta(hours=1),
                audit=_audit("openbanking.transfer_recorded"),
            )
        except GuardrailViolation:
            return False
        return True

    results = await asyncio.gather(*(one(n) for n in range(10)))

    assert results.count(True) == 3
    assert len(await journal.unresolved("openbanking-payout")) == 3
    assert (await DbAuditLog(db).verify()).ok


async def test_journal_is_idempotent_and_compare_and_set(db: Database) -> None:
    """A taken key returns the existing row; a state change only applies from expected states."""
    journal = DbTransferJournal(db)
    limit = {"daily_limit": Decimal(10**9), "day_start": NOW - timedelta(hours=1)}
    first, created = await journal.record(_transfer(1), audit=_audit("a"), **limit)  # type: ignore[arg-type]
    again, created_again = await journal.record(
        _transfer(2, key="key-1"),
        audit=_audit("a"),
        **limit,  # type: ignore[arg-type]
    )

    done = await journal.update(
        first.id, TransferState.SUCCEEDED, expect={TransferState.PENDING_SUBMIT}, at=NOW
    )
    late = await journal.update(
        first.id, TransferState.FAILED, expect={TransferState.PENDING_SUBMIT}, at=NOW
    )

    assert created
    assert not created_again
    assert again.id == first.id
    assert done is not None
    assert done.state is TransferState.SUCCEEDED
    assert done.completed_at
    assert late is None
    assert await journal.unresolved("openbanking-payout") == []


async def test_consent_grant_refresh_and_end(db: Database) -> None:
    """Consent and token move together, each step audited in the same transaction."""
    store = DbConsentStore(db, key := cipher())
    vault = DbTokenVault(db, key)
    token = StoredToken("access-1", NOW + timedelta(days=90), "login inquiry", "refresh-1", "1100")

    await store.begin("demo", oauth_state="s" * 32, code_verifier="v" * 64, scope="x", now=NOW)
    pending = await store.get("demo")
    granted = await store.grant(
        "demo", token, token_key="k", now=NOW, audit=_audit("openbanking.consent_granted")
    )
    await store.refresh(
        "demo",
        StoredToken("access-2", NOW + timedelta(days=95), "login inquiry", "refresh-2", "1100"),
        token_key="k",
        now=NOW,
        audit=_audit("openbanking.consent_refreshed"),
    )
    refreshed = await vault.load("k")
    await store.end("demo", ConsentState.REVOKED, token_key="k", now=NOW, audit=_audit("revoked"))

    assert pending is not None
    assert pending.state is ConsentState.PENDING
    assert pending.code_verifier == "v" * 64
    assert granted.granted
    assert granted.user_seq_no == "1100"
    assert not granted.oauth_state
    assert refreshed is not None
    assert refreshed.access_token == "access-2"
    ended = await store.get("demo")
    assert ended is not None
    assert ended.state is ConsentState.REVOKED
    assert await vault.load("k") is None
    assert [e.action for e in reversed(await DbAuditLog(db).recent())] == [
        "openbanking.consent_granted",
        "openbanking.consent_refreshed",
        "revoked",
    ]


async def test_a_refresh_never_revives_an_ended_consent(db: Database) -> None:
    """A refresh racing a revoke is discarded: the consent stays revoked, no token stored."""
    store = DbConsentStore(db, key := cipher())
    token = StoredToken("a", NOW + timedelta(days=90), refresh_token="r")
    await store.grant("demo", token, token_key="k", now=NOW, audit=_audit("granted"))
    await store.end("demo", ConsentState.REVOKED, token_key="k", now=NOW, audit=_audit("revoked"))

    await store.refresh("demo", token, token_key="k", now=NOW, audit=_audit("refreshed"))

    assert await DbTokenVault(db, key).load("k") is None


async def test_transaction_sink_skips_what_it_has(db: Database) -> None:
    """A re-sync of the same rows stores nothing new; amounts stay exact."""
    sink = DbTransactionSink(db)
    account = account_ref(CMA)
    rows = [
        Transaction(
            account=account,
            tx_id=f"20260305141233-{n:016x}",
            occurred_at=NOW,
            direction=Direction.IN,
            amount=Decimal("12345678901.5"),
            balance_after=Decimal(-1),
        )
        for n in range(3)
    ]

    assert await sink.add_many(rows, source="openbanking", synced_at=NOW) == 3
    assert await sink.add_many(rows, source="openbanking", synced_at=NOW) == 0
    assert await sink.count(account.account_id) == 3
