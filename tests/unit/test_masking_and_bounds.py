"""Fixes from the proof runs: replies masked like logs, crash output masked, key length bounded."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from adapters.db.engine import Database
from adapters.db.orders import DbOrderJournal, encrypt_account_numbers
from orchestrator.cli import report_crash
from orchestrator.domain.errors import ConfigError, OrchestratorError
from orchestrator.domain.model import (
    MAX_IDEMPOTENCY_KEY,
    AccountKind,
    AccountRef,
    AuditEvent,
    Institution,
    OrderIntent,
    OrderType,
    Side,
)
from orchestrator.logging import mask_reply
from tests.support.databases import cipher_for_tests

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
ACCOUNT = AccountRef(
    user_id="u1",
    account_id="kis-u1",
    institution=Institution.KIS,
    kind=AccountKind.BROKERAGE,
    external_ref="50012345-01",
    masked_number="****5-01",
)


def _intent(key: str, account: AccountRef = ACCOUNT) -> OrderIntent:
    return OrderIntent(
        id=f"oi-{len(key)}",
        idempotency_key=key,
        account=account,
        symbol="005930",
        side=Side.BUY,
        quantity=1,
        order_type=OrderType.MARKET,
        created_at=NOW,
    )


def test_reply_masks_account_numbers_secrets_and_free_text_but_keeps_order_numbers() -> None:
    """Keys naming accounts or secrets are masked; error text is scrubbed; order ids stay."""
    reply = mask_reply(
        {
            "external_ref": "5001234501",
            "access_token": "tok-abc",
            "last_error": "account 5001234501 refused, appsecret=xyz",
            "broker_order_id": "0000117057",
            "rows": [{"cano": "50012345"}],
        }
    )

    assert reply["external_ref"] == "******4501"
    assert reply["access_token"] == "***"
    assert "5001234501" not in reply["last_error"]
    assert "xyz" not in reply["last_error"]
    assert reply["broker_order_id"] == "0000117057"
    assert reply["rows"] == [{"cano": "****2345"}]


def test_idempotency_key_longer_than_the_column_is_refused_on_every_engine() -> None:
    """The bound is the domain's, so SQLite (which would store it) and PostgreSQL agree."""
    _intent("k" * MAX_IDEMPOTENCY_KEY)
    with pytest.raises(ValueError, match="at most 200"):
        _intent("k" * (MAX_IDEMPOTENCY_KEY + 1))
    with pytest.raises(ValueError, match="non-empty"):
        _intent("  ")


def test_unexpected_crash_prints_a_masked_traceback_and_user_errors_none() -> None:
    """A bug's traceback quotes SQL parameters: masked. Deliberate errors are one line."""

    def boom() -> None:
        raise RuntimeError("INSERT ... parameters ('5001234501', 'Bearer abc.def')")

    out = io.StringIO()
    with pytest.raises(RuntimeError) as caught:
        boom()
    assert report_crash(caught.value, out) == 1
    printed = out.getvalue()
    assert "Traceback" in printed
    assert "boom" in printed
    assert "5001234501" not in printed
    assert "abc.def" not in printed

    user = io.StringIO()
    assert report_crash(ConfigError("config.yaml line 3: bad"), user) == 2
    assert report_crash(OrchestratorError("no such order"), user) == 1
    assert "Traceback" not in user.getvalue()


async def test_account_number_is_encrypted_at_rest(db: Database) -> None:
    """The journal stores a Fernet token, reads back the number; legacy rows get encrypted."""
    journal = DbOrderJournal(db, cipher_for_tests())
    audit = AuditEvent(at=NOW, actor="t", action="order.intent_recorded", subject="s")
    record, _ = await journal.record(_intent("k1"), broker="kis", audit=audit)
    async with db.session() as s:
        stored = (await s.execute(text("SELECT external_ref FROM order_intents"))).scalar_one()
        await s.execute(text("UPDATE order_intents SET external_ref = '50012345-01'"))

    assert "50012345" not in stored
    assert (await journal.get(record.id)).intent.account.external_ref == "50012345-01"  # type: ignore[union-attr]
    assert await encrypt_account_numbers(db, cipher_for_tests()) == 1
    async with db.session() as s:
        again = (await s.execute(text("SELECT external_ref FROM order_intents"))).scalar_one()
    assert again.startswith("gAAAAA")
    assert (await journal.get(record.id)).intent.account.external_ref == "50012345-01"  # type: ignore[union-attr]
