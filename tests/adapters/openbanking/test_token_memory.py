"""Tokens held in memory: the consent row and the vault are read once, not on every call.

Each test builds the adapter over counting wrappers of the harness's stores, so the number of
vault and consent reads can be asserted; a second adapter over the same stores plays another
process. The relay is the in-process sandbox; time only moves through the fake clock.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlmodel import col

from adapters.db.openbanking import DbOpenBankingStores
from adapters.db.tables import AuditEventRow
from adapters.openbanking import OpenBanking, build_openbanking
from adapters.openbanking.endpoints import ACCOUNT_LIST, BALANCE, REVOKE, TOKEN, USER_CLOSE
from adapters.openbanking.stores import (
    Consent,
    ConsentState,
    ConsentStore,
    StoredToken,
    TokenVault,
    TranIdAllocator,
    TransferJournal,
)
from orchestrator.domain.errors import ConsentRequired
from orchestrator.domain.model import AuditEvent

from .conftest import CMA, DEMO_SEQ, USER, Harness, account_ref

USER_KEY = f"openbanking:user:{USER}"
RECHECK = timedelta(seconds=60)


class CountingVault:
    """The harness's vault, counting loads per key."""

    def __init__(self, inner: TokenVault) -> None:
        self._inner = inner
        self.loads: Counter[str] = Counter()

    async def load(self, key: str) -> StoredToken | None:
        self.loads[key] += 1
        return await self._inner.load(key)

    async def save(self, key: str, token: StoredToken, *, now: datetime) -> None:
        await self._inner.save(key, token, now=now)


class CountingConsents:
    """The harness's consent store, counting `get`s per user."""

    def __init__(self, inner: ConsentStore) -> None:
        self._inner = inner
        self.gets: Counter[str] = Counter()

    async def get(self, user_id: str) -> Consent | None:
        self.gets[user_id] += 1
        return await self._inner.get(user_id)

    async def begin(
        self, user_id: str, *, oauth_state: str, code_verifier: str, scope: str, now: datetime
    ) -> None:
        await self._inner.begin(
            user_id, oauth_state=oauth_state, code_verifier=code_verifier, scope=scope, now=now
        )

    async def grant(
        self, user_id: str, token: StoredToken, *, token_key: str, now: datetime, audit: AuditEvent
    ) -> Consent:
        return await self._inner.grant(user_id, token, token_key=token_key, now=now, audit=audit)

    async def refresh(
        self, user_id: str, token: StoredToken, *, token_key: str, now: datetime, audit: AuditEvent
    ) -> None:
        await self._inner.refresh(user_id, token, token_key=token_key, now=now, audit=audit)

    async def end(
        self,
        user_id: str,
        state: ConsentState,
        *,
        token_key: str,
        now: datetime,
        audit: AuditEvent,
    ) -> None:
        await self._inner.end(user_id, state, token_key=token_key, now=now, audit=audit)


@dataclass
class SpyStores:
    """The `Stores` protocol over the harness's database, with counting vault and consents."""

    vault: CountingVault
    consents: CountingConsents
    tran_ids: TranIdAllocator
    transfers: TransferJournal

    @classmethod
    def over(cls, stores: DbOpenBankingStores) -> SpyStores:
        return cls(
            CountingVault(stores.vault),
            CountingConsents(stores.consents),
            stores.tran_ids,
            stores.transfers,
        )

    def reads(self) -> int:
        """Database reads of the demo user's consent and token so far."""
        return self.vault.loads[USER_KEY] + self.consents.gets[USER]

    def reset(self) -> None:
        self.vault.loads.clear()
        self.consents.gets.clear()


def _adapter(harness: Harness) -> tuple[OpenBanking, SpyStores]:
    spies = SpyStores.over(harness.stores)
    ob = build_openbanking(
        harness.settings, harness.resilience, spies, harness.http, clock=harness.time
    )
    return ob, spies


def _refreshes(harness: Harness) -> int:
    return sum(
        1 for r in harness.transport.to(TOKEN.path) if b"grant_type=refresh_token" in r.content
    )


async def _read_everything(ob: OpenBanking) -> None:
    await ob.source.cash(account_ref(CMA), fresh=True)
    await ob.source.accounts(USER)
    rows = [
        tx
        async for tx in ob.source.transactions(account_ref(CMA), date(2026, 3, 1), date(2026, 3, 9))
    ]
    assert rows


async def _actions(harness: Harness) -> list[str]:
    async with harness.db.session() as session:
        rows = await session.execute(
            select(col(AuditEventRow.action)).order_by(col(AuditEventRow.seq))
        )
        return list(rows.scalars())


async def test_repeated_reads_do_not_reopen_the_vault(granted: Harness) -> None:
    """The first call reads the consent and the token once; the following calls read neither."""
    ob, spies = _adapter(granted)

    await _read_everything(ob)
    assert spies.vault.loads[USER_KEY] == 1
    assert spies.consents.gets[USER] == 1
    assert await ob.tokens.user_seq_no(USER) == DEMO_SEQ

    spies.reset()
    for _ in range(5):
        await _read_everything(ob)

    assert spies.reads() == 0
    assert ob.tokens.holds(USER)
    assert _refreshes(granted) == 0


async def test_concurrent_first_reads_share_one_database_read(granted: Harness) -> None:
    """Ten calls racing on a cold start read the consent and the vault once between them."""
    ob, spies = _adapter(granted)

    await asyncio.gather(*(ob.tokens.user_token(USER) for _ in range(10)))

    assert spies.vault.loads[USER_KEY] == 1
    assert spies.consents.gets[USER] == 1


async def test_the_held_copy_is_checked_again_after_the_recheck_interval(granted: Harness) -> None:
    """After `recheck_seconds` the consent and the vault are read again, once."""
    ob, spies = _adapter(granted)
    await ob.tokens.user_token(USER)
    granted.time.advance(RECHECK.total_seconds() - 1)
    await ob.tokens.user_token(USER)
    assert spies.reads() == 2

    granted.time.advance(1)
    await ob.tokens.user_token(USER)
    await ob.tokens.user_token(USER)

    assert spies.reads() == 4


async def test_a_token_near_expiry_is_refreshed_once(granted: Harness) -> None:
    """Inside the refresh window the held token is refreshed once; later calls use the new one."""
    ob, spies = _adapter(granted)
    first = await ob.tokens.user_token(USER)
    granted.time.advance(timedelta(days=85).total_seconds())

    for _ in range(5):
        await ob.source.cash(account_ref(CMA), fresh=True)

    assert _refreshes(granted) == 1
    stored = await granted.stores.vault.load(USER_KEY)
    assert stored is not None
    assert stored.access_token != first
    assert stored.expires_at == granted.time.now() + timedelta(days=90)
    assert await ob.tokens.user_token(USER) == stored.access_token
    assert len(granted.transport.to(BALANCE.path)) == 5  # never rejected
    spies.reset()
    await ob.source.cash(account_ref(CMA), fresh=True)
    assert spies.reads() == 0


async def test_a_rejected_token_is_reloaded_then_refreshed_and_the_read_works(
    granted: Harness,
) -> None:
    """O0003 on the held token: the vault is read again (same token), refreshed, read retried."""
    ob, spies = _adapter(granted)
    held = await ob.tokens.user_token(USER)
    await granted.fault(kind="expire_tokens", user_seq_no=DEMO_SEQ)
    spies.reset()

    cash = await ob.source.cash(account_ref(CMA), fresh=True)

    assert cash.deposit > 0
    assert _refreshes(granted) == 1
    assert spies.consents.gets[USER] == 1  # the consent was checked again before refreshing
    assert spies.vault.loads[USER_KEY] >= 1
    assert len(granted.transport.to(BALANCE.path)) == 2
    renewed = await ob.tokens.user_token(USER)
    assert renewed != held
    stored = await granted.stores.vault.load(USER_KEY)
    assert stored is not None
    assert stored.access_token == renewed
    spies.reset()
    await ob.source.cash(account_ref(CMA), fresh=True)
    await ob.source.cash(account_ref(CMA), fresh=True)
    assert spies.reads() == 0
    assert _refreshes(granted) == 1


async def test_a_token_refreshed_by_another_process_is_reloaded_not_refreshed_again(
    granted: Harness,
) -> None:
    """Refresh tokens rotate: when another process refreshed first, the rejected process takes
    the vault's token instead of spending the (already used) refresh token."""
    ours, _ = _adapter(granted)
    theirs, _ = _adapter(granted)
    held = await ours.tokens.user_token(USER)
    await granted.fault(kind="expire_tokens", user_seq_no=DEMO_SEQ)
    await theirs.source.cash(account_ref(CMA), fresh=True)  # refreshes and stores
    assert _refreshes(granted) == 1

    cash = await ours.source.cash(account_ref(CMA), fresh=True)

    assert cash.deposit > 0
    assert _refreshes(granted) == 1
    assert await ours.tokens.user_token(USER) == await theirs.tokens.user_token(USER) != held
    assert (await ours.consent.status(USER)).granted


async def test_revoke_forgets_the_held_token(granted: Harness) -> None:
    """After `consent revoke` reads raise ConsentRequired and no token is held any more."""
    ob, _ = _adapter(granted)
    await ob.source.cash(account_ref(CMA), fresh=True)
    assert ob.tokens.holds(USER)

    await ob.consent.revoke(USER)

    with pytest.raises(ConsentRequired):
        await ob.source.cash(account_ref(CMA), fresh=True)
    assert not ob.tokens.holds(USER)
    with pytest.raises(ConsentRequired):
        await ob.tokens.user_seq_no(USER)
    assert (await _actions(granted))[-1] == "openbanking.consent_revoked"


async def test_forget_makes_the_next_call_read_the_database(granted: Harness) -> None:
    """`forget` (for whoever changes the consent) drops the copy: nothing stale is sent."""
    ob, _ = _adapter(granted)
    await ob.source.cash(account_ref(CMA), fresh=True)
    await ob.consent.revoke(USER)
    sent = len(granted.transport.requests)

    ob.tokens.forget(USER)

    assert not ob.tokens.holds(USER)
    with pytest.raises(ConsentRequired):
        await ob.source.cash(account_ref(CMA), fresh=True)
    assert len(granted.transport.requests) == sent  # refused before anything was sent


async def test_a_revoke_by_another_process_is_seen_after_the_recheck(granted: Harness) -> None:
    """Revoked elsewhere while the relay's part failed (the token still works at the relay):
    the held copy stops being used once `recheck_seconds` have passed."""
    ob, _ = _adapter(granted)
    await ob.source.cash(account_ref(CMA), fresh=True)
    other, _ = _adapter(granted)
    for path in (REVOKE.path, USER_CLOSE.path, ACCOUNT_LIST.path):
        await granted.fault(kind="http_error", path=path, status=503)

    await other.consent.revoke(USER)

    assert not (await ob.consent.status(USER)).granted
    assert any(not t.revoked for t in granted.relay.tokens.by_jti.values() if t.user_seq_no)
    granted.time.advance(RECHECK.total_seconds())
    sent = len(granted.transport.to(BALANCE.path))
    with pytest.raises(ConsentRequired):
        await ob.source.cash(account_ref(CMA), fresh=True)
    assert len(granted.transport.to(BALANCE.path)) == sent
    assert not ob.tokens.holds(USER)


async def test_the_oob_token_is_held_and_renewed_when_rejected(granted: Harness) -> None:
    """The oob token is read (or issued) once; a rejection reads the vault again and issues anew."""
    ob, spies = _adapter(granted)
    oob_key = ob.tokens.oob_key

    first = await ob.tokens.oob_token()
    for _ in range(3):
        assert await ob.tokens.oob_token() == first
    assert spies.vault.loads[oob_key] == 2  # the first read, and again under the issue lock

    spies.reset()
    renewed = await ob.tokens.renew_oob(first)

    assert renewed != first
    assert spies.vault.loads[oob_key] >= 1
    stored = await granted.stores.vault.load(oob_key)
    assert stored is not None
    assert stored.access_token == renewed
    spies.reset()
    assert await ob.tokens.oob_token() == renewed
    assert spies.vault.loads[oob_key] == 0
