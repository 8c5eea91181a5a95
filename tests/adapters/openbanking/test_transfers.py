"""Guarded deposits into the CMA, including every way the outcome can be unknown."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlmodel import col

from adapters.db.tables import AuditEventRow, TransferRow
from adapters.openbanking.endpoints import DEPOSIT, TRANSFER_RESULT
from adapters.openbanking.mapping import account_id_of
from adapters.openbanking.stores import NewTransfer
from adapters.openbanking.transfers import PAYOUT_ACCOUNT_ID
from orchestrator.domain.errors import GuardrailViolation, RequestRefused
from orchestrator.domain.model import TransferState

from .conftest import ACCIDENT, CMA, CMA_BALANCE, Harness, make_settings

GRACE = 121  # seconds: past transfers.no_record_grace_seconds (120)


async def _rows(harness: Harness) -> list[TransferRow]:
    async with harness.db.session() as session:
        return list((await session.execute(select(TransferRow))).scalars())


async def _actions(harness: Harness) -> list[str]:
    async with harness.db.session() as session:
        rows = await session.execute(
            select(col(AuditEventRow.action))
            .where(col(AuditEventRow.action).like("openbanking.transfer%"))
            .order_by(col(AuditEventRow.seq))
        )
        return list(rows.scalars())


def _executed(harness: Harness) -> list[int]:
    return [t.tran_amt for t in harness.relay.transfers.values() if t.executed]


async def test_a_deposit_lands_once_recorded_and_audited(harness: Harness) -> None:
    """Recorded with its bank_tran_id before sending, succeeded, CMA credited, audit trail."""
    record = await harness.ob.transfers.deposit("rebalance-2026-03-10", Decimal(500_000))

    assert record.state is TransferState.SUCCEEDED
    assert record.to_account_id == account_id_of(CMA)
    assert record.bank_tran_id.startswith("T990000001U")
    assert len(record.bank_tran_id) == 20
    assert _executed(harness) == [500_000]
    assert harness.relay.accounts[CMA].balance == CMA_BALANCE + 500_000
    assert await _actions(harness) == [
        "openbanking.transfer_recorded",
        "openbanking.transfer_succeeded",
    ]
    sent = harness.transport.to(DEPOSIT.path)[0]
    assert sent.headers["content-type"] == "application/json; charset=UTF-8"
    assert b'"req_cnt": "1"' in sent.content
    assert b'"tran_amt": "500000"' in sent.content


async def test_the_same_key_never_sends_twice(harness: Harness) -> None:
    """A repeated idempotency key returns the recorded transfer; one deposit at the relay."""
    first = await harness.ob.transfers.deposit("k", 100_000)

    again = await harness.ob.transfers.deposit("k", 100_000)

    assert again.id == first.id
    assert again.state is TransferState.SUCCEEDED
    assert len(harness.transport.to(DEPOSIT.path)) == 1
    assert _executed(harness) == [100_000]


async def test_concurrent_calls_with_one_key_make_one_transfer(harness: Harness) -> None:
    """Five racing callers with the same key: one journal row, one deposit."""
    records = await asyncio.gather(*(harness.ob.transfers.deposit("race", 1000) for _ in range(5)))

    assert len({r.id for r in records}) == 1
    assert len(await _rows(harness)) == 1
    assert len(harness.transport.to(DEPOSIT.path)) == 1


async def test_transfers_are_off_unless_enabled(harness: Harness) -> None:
    """Disabled: GuardrailViolation, nothing recorded, nothing sent."""
    settings = make_settings()
    off = make_settings(transfers={**settings.transfers.model_dump(), "enabled": False})
    ob = harness.rebuild(off)

    with pytest.raises(GuardrailViolation):
        await ob.transfers.deposit("k", 1000)

    assert await _rows(harness) == []
    assert harness.transport.requests == []


async def test_per_transfer_limit_stops_it_before_anything_is_sent(harness: Harness) -> None:
    """Above per_transfer_limit (2,000,000): refused with no row and no request."""
    with pytest.raises(GuardrailViolation) as caught:
        await harness.ob.transfers.deposit("big", 2_000_001)

    assert caught.value.rule == "openbanking.per_transfer_limit"
    assert await _rows(harness) == []
    assert harness.transport.requests == []


async def test_daily_limit_counts_todays_transfers(harness: Harness) -> None:
    """3,000,000 a day: the third 1.5M is refused before sending; failed ones do not count."""
    await harness.ob.transfers.deposit("a", 1_500_000)
    await harness.ob.transfers.deposit("b", 1_500_000)

    with pytest.raises(GuardrailViolation) as caught:
        await harness.ob.transfers.deposit("c", 1)

    assert caught.value.rule == "openbanking.daily_limit"
    assert len(harness.transport.to(DEPOSIT.path)) == 2
    harness.time.advance(timedelta(days=1).total_seconds())
    assert (await harness.ob.transfers.deposit("d", 1)).state is TransferState.SUCCEEDED


async def test_fractional_or_negative_amounts_are_refused(harness: Harness) -> None:
    """Whole positive KRW only."""
    for amount in (Decimal("0.5"), Decimal(0), -5):
        with pytest.raises(GuardrailViolation):
            await harness.ob.transfers.deposit(f"bad{amount}", amount)


@pytest.mark.parametrize("code", ["A0007", "A0003", "A0001"])
async def test_unknown_outcome_that_executed_is_confirmed_not_resent(
    harness: Harness, code: str
) -> None:
    """A0001/A0003/A0007 with the money moved: transfer/result says so; one transfer only."""
    await harness.fault(kind="transfer_outcome", rsp_code=code, executed=True, count=1)

    record = await harness.ob.transfers.deposit("k", 300_000)

    assert record.state is TransferState.SUCCEEDED
    assert _executed(harness) == [300_000]
    assert len(harness.relay.transfers) == 1
    assert len(harness.transport.to(DEPOSIT.path)) == 1
    result = harness.transport.to(TRANSFER_RESULT.path)[0]
    assert record.bank_tran_id.encode() in result.content
    assert await _actions(harness) == [
        "openbanking.transfer_recorded",
        "openbanking.transfer_unknown",
        "openbanking.transfer_succeeded",
    ]


async def test_unknown_outcome_that_did_not_execute_becomes_failed_after_grace(
    harness: Harness,
) -> None:
    """A0007, money not moved: unknown at first (A0310 may be early), failed after the grace."""
    await harness.fault(kind="transfer_outcome", rsp_code="A0007", executed=False, count=1)

    record = await harness.ob.transfers.deposit("k", 300_000)

    assert record.state is TransferState.UNKNOWN
    harness.time.advance(GRACE)
    settled = await harness.ob.transfers.resolve(record)
    assert settled.state is TransferState.FAILED
    assert settled.rsp_code == "A0310"
    assert _executed(harness) == []
    assert len(harness.transport.to(DEPOSIT.path)) == 1
    assert harness.relay.accounts[CMA].balance == CMA_BALANCE


async def test_a_lost_reply_is_resolved_from_the_relay(harness: Harness) -> None:
    """The deposit executed and the connection dropped: resolved as succeeded, never resent."""
    await harness.fault(kind="drop", phase="after", count=1, path=DEPOSIT.path)

    record = await harness.ob.transfers.deposit("k", 250_000)

    assert record.state is TransferState.SUCCEEDED
    assert _executed(harness) == [250_000]
    assert len(harness.transport.to(DEPOSIT.path)) == 1


async def test_a_5xx_after_sending_is_unknown_then_resolved(harness: Harness) -> None:
    """HTTP 503 after the relay processed it: outcome unknown, transfer/result settles it."""
    await harness.fault(kind="http_error", status=503, phase="after", count=1, path=DEPOSIT.path)

    record = await harness.ob.transfers.deposit("k", 10_000)

    assert record.state is TransferState.SUCCEEDED
    assert len(harness.transport.to(DEPOSIT.path)) == 1


async def test_result_unavailable_leaves_it_unknown_for_later(harness: Harness) -> None:
    """transfer/result down too: the transfer stays UNKNOWN, and a later resolve settles it."""
    await harness.fault(kind="transfer_outcome", rsp_code="A0007", executed=True, count=1)
    await harness.fault(kind="http_error", status=503, count=5, path=TRANSFER_RESULT.path)
    ob = harness.rebuild(breaker_failure_threshold=20)

    record = await ob.transfers.deposit("k", 10_000)

    assert record.state is TransferState.UNKNOWN
    (settled,) = await ob.transfers.resolve_unresolved()
    assert settled.state is TransferState.SUCCEEDED
    assert len(harness.transport.to(DEPOSIT.path)) == 1


async def test_a_refused_item_is_failed(harness: Harness) -> None:
    """A0009 with the item's bank_rsp_code 419: failed, nothing moved."""
    settings = make_settings()
    ob = harness.rebuild(
        make_settings(
            transfers={**settings.transfers.model_dump(), "target_fintech_use_num": ACCIDENT}
        )
    )

    record = await ob.transfers.deposit("k", 10_000)

    assert record.state is TransferState.FAILED
    assert record.rsp_code == "419"
    assert _executed(harness) == []


async def test_a_refusal_before_acceptance_fails_the_record_and_raises(harness: Harness) -> None:
    """A0004 (format): RequestRefused raised, the journal row is FAILED, sent once."""
    await harness.fault(kind="rsp_code", rsp_code="A0004", count=1, path=DEPOSIT.path)

    with pytest.raises(RequestRefused):
        await harness.ob.transfers.deposit("k", 10_000)

    (row,) = await _rows(harness)
    assert row.state == TransferState.FAILED.value
    assert len(harness.transport.to(DEPOSIT.path)) == 1


async def test_an_expired_oob_token_is_reissued_and_sent_with_the_same_id(
    harness: Harness,
) -> None:
    """O0003 on the 2-legged token: re-issued, the same bank_tran_id sent once more."""
    await harness.ob.transfers.deposit("warm-up", 1000)
    await harness.fault(kind="expire_tokens", client_id="sandbox-demo-client-id")

    record = await harness.ob.transfers.deposit("k", 2000)

    assert record.state is TransferState.SUCCEEDED
    deposits = harness.transport.to(DEPOSIT.path)[1:]
    assert len(deposits) == 2
    assert record.bank_tran_id.encode() in deposits[0].content
    assert record.bank_tran_id.encode() in deposits[1].content


async def test_crash_recovery_settles_a_transfer_never_sent(harness: Harness) -> None:
    """PENDING_SUBMIT left by a crash before sending: after the grace, A0310 makes it FAILED."""
    now = harness.time.now()
    (bank_tran_id,) = await harness.stores.tran_ids.allocate("T990000001", day="20260310", at=now)
    transfer = NewTransfer(
        id="crashed",
        idempotency_key="crashed",
        user_id="demo",
        from_account_id=PAYOUT_ACCOUNT_ID,
        to_account_id=account_id_of(CMA),
        amount=Decimal(1000),
        bank_tran_id=bank_tran_id,
        requested_at=now,
    )
    from orchestrator.domain.model import AuditEvent

    await harness.stores.transfers.record(
        transfer,
        daily_limit=Decimal(10**9),
        day_start=now - timedelta(hours=1),
        audit=AuditEvent(at=now, actor="t", action="openbanking.transfer_recorded", subject="x"),
    )

    young = await harness.ob.transfers.resolve_unresolved()
    harness.time.advance(GRACE)
    settled = await harness.ob.transfers.resolve_unresolved()

    assert young[0].state is TransferState.PENDING_SUBMIT
    assert harness.transport.to(TRANSFER_RESULT.path) != []
    assert settled[0].state is TransferState.FAILED
    assert harness.transport.to(DEPOSIT.path) == []
