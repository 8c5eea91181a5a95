"""The consent flow, token refresh and revocation, against the sandbox relay."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select
from sqlmodel import col

from adapters.db.audit import DbAuditLog
from adapters.db.tables import AuditEventRow, StoredSecretRow
from adapters.openbanking import (
    ConsentState,
    consent_finish,
    consent_revoke,
    consent_start,
    consent_status,
)
from adapters.openbanking.endpoints import AUTHORIZE, BALANCE
from orchestrator.domain.errors import ConsentRequired

from .conftest import CLIENT_ID, CMA, DEMO_SEQ, REDIRECT, USER, Harness, account_ref

TOKEN_KEY = f"openbanking:user:{USER}"


async def _actions(harness: Harness) -> list[str]:
    async with harness.db.session() as session:
        rows = await session.execute(
            select(col(AuditEventRow.action)).order_by(col(AuditEventRow.seq))
        )
        return list(rows.scalars())


async def _consent_page_redirect(harness: Harness, url: str, user: str = USER) -> str:
    """What a person's browser would end on: the relay's 302 to our callback."""
    path = url.split("openbanking.or.kr", 1)[1]
    response = await harness.sandbox("GET", f"{path}&sandbox_auto_consent={user}")
    assert response.status_code == 302
    return response.headers["location"]


async def test_start_gives_an_authorize_url_with_state_and_no_pkce(harness: Harness) -> None:
    """The URL carries client, callback, scope, a 32-char state and the investor as client_info;
    no PKCE challenge (the digest found none at the relay, §1.6)."""
    url = await harness.ob.consent.start(USER)

    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert parts.path == AUTHORIZE.path
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == REDIRECT
    assert query["scope"] == "login inquiry transfer"
    assert query["response_type"] == "code"
    assert len(query["state"]) == 32
    assert query["client_info"] == USER
    assert "code_challenge" not in query
    status = await harness.ob.consent.status(USER)
    assert status.state is ConsentState.PENDING
    assert status.pending


async def test_finish_with_the_redirect_url_grants_and_audits(harness: Harness) -> None:
    """The callback URL completes the flow: granted, token stored encrypted, audit written."""
    url = await harness.ob.consent.start(USER)
    location = await _consent_page_redirect(harness, url)

    status = await harness.ob.consent.finish(USER, redirect_url=location)

    assert status.granted
    assert status.expires_at == harness.time.now() + timedelta(days=90)
    consent = await harness.stores.consents.get(USER)
    assert consent is not None
    assert consent.user_seq_no == DEMO_SEQ
    assert not consent.oauth_state
    assert await _actions(harness) == ["openbanking.consent_granted"]
    token = await harness.stores.vault.load(TOKEN_KEY)
    assert token is not None
    async with harness.db.session() as session:
        row = await session.get(StoredSecretRow, TOKEN_KEY)
    assert row is not None
    assert token.access_token not in row.ciphertext
    assert token.refresh_token is not None
    assert token.refresh_token not in row.ciphertext
    assert "access_token" not in repr(token)
    assert (await DbAuditLog(harness.db).verify()).ok


async def test_finish_with_code_and_state(harness: Harness) -> None:
    """`consent finish --code C --state S` works as well as the URL."""
    url = await harness.ob.consent.start(USER)
    query = parse_qs(urlsplit(await _consent_page_redirect(harness, url)).query)

    status = await harness.ob.consent.finish(USER, code=query["code"][0], state=query["state"][0])

    assert status.granted


async def test_a_foreign_state_is_refused_before_the_code_is_used(harness: Harness) -> None:
    """CSRF: a state we did not hand out is refused and no token is requested."""
    url = await harness.ob.consent.start(USER)
    location = await _consent_page_redirect(harness, url)
    forged = location.replace("state=", "state=x")

    with pytest.raises(ConsentRequired):
        await harness.ob.consent.finish(USER, redirect_url=forged)

    assert harness.transport.to("/oauth/2.0/token") == []


async def test_a_refused_consent_callback_is_consent_required(harness: Harness) -> None:
    """A callback with rsp_code (the relay refused) is not exchanged."""
    await harness.ob.consent.start(USER)

    with pytest.raises(ConsentRequired):
        await harness.ob.consent.finish(
            USER, redirect_url=f"{REDIRECT}?rsp_code=O0001&rsp_message=x&state=s"
        )


async def test_provisioning_the_sandbox_consent_is_idempotent(harness: Harness) -> None:
    """The first call grants over HTTP; the second does nothing (no new token issued)."""
    assert await harness.ob.consent.provision_sandbox_consent(USER)
    issued = len(harness.relay.tokens.by_refresh)

    assert not await harness.ob.consent.provision_sandbox_consent(USER)

    assert len(harness.relay.tokens.by_refresh) == issued
    assert len(harness.transport.to("/oauth/2.0/token")) == 1


async def test_cli_bodies_print_url_and_status(harness: Harness) -> None:
    """consent start/finish/status/revoke print through the given echo."""
    printed: list[str] = []

    url = await consent_start(harness.ob.consent, USER, printed.append)
    location = await _consent_page_redirect(harness, url)
    await consent_finish(harness.ob.consent, USER, printed.append, redirect_url=location)
    await consent_status(harness.ob.consent, USER, printed.append)
    await consent_revoke(harness.ob.consent, USER, printed.append)

    assert url in printed
    assert printed[-2].startswith("demo: granted")
    assert printed[-1].startswith("demo: revoked")
    assert not any("Bearer" in line or "eyJ" in line for line in printed)


async def test_an_expired_token_is_refreshed_and_the_read_retried(granted: Harness) -> None:
    """O0003 (expired): refresh once, retry once, store and audit the new token."""
    before = await granted.stores.vault.load(TOKEN_KEY)
    await granted.fault(kind="expire_tokens", user_seq_no=DEMO_SEQ)

    cash = await granted.ob.source.cash(account_ref(CMA), fresh=True)

    assert cash.deposit > 0
    after = await granted.stores.vault.load(TOKEN_KEY)
    assert before is not None
    assert after is not None
    assert after.access_token != before.access_token
    assert after.refresh_token != before.refresh_token
    assert await _actions(granted) == [
        "openbanking.consent_granted",
        "openbanking.consent_refreshed",
    ]
    assert len(granted.transport.to(BALANCE.path)) == 2


async def test_tokens_are_refreshed_ahead_of_expiry(granted: Harness) -> None:
    """85 days on (refresh window 10 days), the read refreshes first and never sees O0003."""
    granted.time.advance(timedelta(days=85).total_seconds())

    await granted.ob.source.cash(account_ref(CMA), fresh=True)

    token = await granted.stores.vault.load(TOKEN_KEY)
    assert token is not None
    assert token.expires_at == granted.time.now() + timedelta(days=90)
    assert len(granted.transport.to(BALANCE.path)) == 1
    status = await granted.ob.consent.status(USER)
    assert status.expires_at == token.expires_at


async def test_concurrent_reads_refresh_once(granted: Harness) -> None:
    """Ten reads racing past the refresh window trigger one refresh, not ten."""
    import asyncio

    granted.time.advance(timedelta(days=85).total_seconds())

    await asyncio.gather(*(granted.ob.source.cash(account_ref(CMA), fresh=True) for _ in range(10)))

    refreshes = [
        r for r in granted.transport.to("/oauth/2.0/token") if b"refresh_token" in r.content
    ]
    assert len(refreshes) == 1


async def test_revoked_consent_is_consent_required(granted: Harness) -> None:
    """After `consent revoke`: the relay token is dead, reads raise ConsentRequired, audited."""
    status = await granted.ob.consent.revoke(USER)

    assert status.state is ConsentState.REVOKED
    with pytest.raises(ConsentRequired):
        await granted.ob.source.cash(account_ref(CMA), fresh=True)
    assert await granted.stores.vault.load(TOKEN_KEY) is None
    assert all(t.revoked for t in granted.relay.tokens.by_refresh.values() if t.user_seq_no)
    assert (await _actions(granted))[-1] == "openbanking.consent_revoked"


async def test_consent_revoked_at_the_relay_is_consent_required(granted: Harness) -> None:
    """Revoked elsewhere: O0002, the refresh is refused too, so the consent ends as expired."""
    token = await granted.stores.vault.load(TOKEN_KEY)
    assert token is not None
    await granted.ob.oauth.revoke(token.access_token)

    with pytest.raises(ConsentRequired):
        await granted.ob.source.cash(account_ref(CMA), fresh=True)

    status = await granted.ob.consent.status(USER)
    assert status.state is ConsentState.EXPIRED
    assert (await _actions(granted))[-1] == "openbanking.consent_expired"
    with pytest.raises(ConsentRequired):
        await granted.ob.source.accounts(USER)


async def test_re_consent_keeps_reads_working_meanwhile(granted: Harness) -> None:
    """Starting a new consent does not suspend the granted one until it is finished."""
    await granted.ob.consent.start(USER)

    cash = await granted.ob.source.cash(account_ref(CMA), fresh=True)

    assert cash.deposit > 0
    status = await granted.ob.consent.status(USER)
    assert status.granted
    assert status.pending


async def test_pkce_can_be_turned_on(harness: Harness) -> None:
    """With pkce: true the authorize URL carries an S256 code_challenge."""
    ob = harness.rebuild(harness.settings.model_copy(update={"pkce": True}))

    url = await ob.consent.start(USER)

    assert "code_challenge_method=S256" in url
