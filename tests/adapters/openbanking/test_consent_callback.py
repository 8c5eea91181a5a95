"""The callback's state rules (single use, expiring, refused callbacks audited), revocation the
relay's way (account/cancel + user/close, audited with who and scope) and consent expiry."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from adapters.db.audit import DbAuditLog
from adapters.openbanking import ConsentState
from adapters.openbanking.endpoints import ACCOUNT_CANCEL, TOKEN, USER_CLOSE
from adapters.openbanking.factory import OpenBanking, build_openbanking
from orchestrator.domain.errors import CallbackRefused

from .conftest import DEMO_SEQ, USER, Harness


def _audited(h: Harness) -> tuple[OpenBanking, DbAuditLog]:
    audit = DbAuditLog(h.db)
    ob = build_openbanking(h.settings, h.resilience, h.stores, h.http, clock=h.time, audit=audit)
    return ob, audit


async def _relay_redirect(h: Harness, url: str) -> dict[str, str]:
    """The query our callback receives after a person consents on the sandbox page."""
    path = url.split("openbanking.or.kr", 1)[1]
    response = await h.sandbox("GET", f"{path}&sandbox_auto_consent={USER}")
    assert response.status_code == 302
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}


async def _actions(audit: DbAuditLog) -> list[str]:
    return [e.action for e in reversed(await audit.recent(50))]


async def test_the_callback_finishes_by_client_info_and_a_replay_is_refused(
    harness: Harness,
) -> None:
    ob, audit = _audited(harness)
    started = await ob.consent.begin(USER, actor="ops")
    assert started.state_expires_at == harness.time.now() + timedelta(seconds=600)
    query = await _relay_redirect(harness, started.url)
    assert query["client_info"] == USER

    status = await ob.consent.callback(query)

    assert status.granted
    exchanges = len(harness.transport.to(TOKEN.path))
    with pytest.raises(CallbackRefused, match="already used"):
        await ob.consent.callback(query)
    assert len(harness.transport.to(TOKEN.path)) == exchanges  # the code was not sent again
    assert (await ob.consent.status(USER)).granted  # the replay changed nothing
    actions = await _actions(audit)
    assert actions[0] == "openbanking.consent_started"
    assert "openbanking.consent_granted" in actions
    assert actions[-1] == "openbanking.consent_callback_refused"


async def test_an_expired_state_is_refused_before_the_code_is_exchanged(harness: Harness) -> None:
    ob, audit = _audited(harness)
    started = await ob.consent.begin(USER)
    query = await _relay_redirect(harness, started.url)
    harness.time.advance(601)

    with pytest.raises(CallbackRefused, match="expired"):
        await ob.consent.callback(query)

    assert harness.transport.to(TOKEN.path) == []
    status = await ob.consent.status(USER)
    assert not status.granted
    assert not status.pending  # spent: the same state cannot be tried again
    with pytest.raises(CallbackRefused):
        await ob.consent.callback(query)
    assert (await _actions(audit)).count("openbanking.consent_callback_refused") == 2


async def test_a_callback_without_investor_or_with_the_relays_refusal_is_refused(
    harness: Harness,
) -> None:
    ob, audit = _audited(harness)
    await ob.consent.begin(USER)

    with pytest.raises(CallbackRefused, match="names no investor"):
        await ob.consent.callback({"code": "c", "state": "s"})
    with pytest.raises(CallbackRefused, match="O0001"):
        await ob.consent.callback({"client_info": USER, "rsp_code": "O0001", "state": "s"})

    assert harness.transport.to(TOKEN.path) == []
    assert (await _actions(audit)).count("openbanking.consent_callback_refused") == 2


async def test_revoke_cancels_every_account_and_closes_the_user_at_the_relay(
    granted: Harness,
) -> None:
    ob, audit = _audited(granted)

    status = await ob.consent.revoke(USER, actor="ops-key")

    assert status.state is ConsentState.REVOKED
    relay = granted.relay
    assert all(a.account_state == "09" for a in relay.accounts_of(DEMO_SEQ))
    assert DEMO_SEQ in relay.closed_users
    assert all(t.revoked for t in relay.tokens.by_jti.values() if t.user_seq_no == DEMO_SEQ)
    assert granted.transport.to(ACCOUNT_CANCEL.path)
    assert len(granted.transport.to(USER_CLOSE.path)) == 1
    event = (await audit.recent(1))[0]
    assert event.action == "openbanking.consent_revoked"
    assert event.actor == "ops-key"
    assert event.detail is not None
    assert event.detail["scope"] == "login inquiry transfer"
    assert event.detail["user_close"] == "closed"
    assert event.detail["cancel_failures"] == "0"
    # A new consent registers the accounts again and reads work.
    await ob.consent.provision_sandbox_consent(USER)
    assert (await ob.consent.status(USER)).granted
    assert await ob.source.accounts(USER)


async def test_the_expiry_is_visible_and_expiring_within_the_alert_days(granted: Harness) -> None:
    status = await granted.ob.consent.status(USER)
    assert status.days_left == 90
    assert not status.expiring
    assert status.expiry_alert() is None

    granted.time.advance(timedelta(days=84).total_seconds())

    later = await granted.ob.consent.status(USER)
    assert later.days_left == 6
    assert later.expiring  # consent_expiry_alert_days defaults to 7
    alert = later.expiry_alert()
    assert alert is not None
    assert alert.key == f"openbanking:consent_expiring:{USER}"
    assert "6.0 days left" in alert.text


async def test_many_sandbox_users_with_several_institutions_are_discovered(
    harness: Harness,
) -> None:
    made = await harness.sandbox(
        "POST", "/_sandbox/users", json={"count": 3, "institutions": ["240", "243", "004"]}
    )
    assert made.status_code == 201, made.text
    users = made.json()["users"]
    assert len({u["user_seq_no"] for u in users}) == 3
    page = await harness.sandbox("GET", "/_sandbox/users")
    assert {u["id"] for u in users} <= {u["id"] for u in page.json()["users"]}

    assert await harness.ob.consent.provision_sandbox_consent("park", sandbox_user=users[1]["id"])
    found = await harness.ob.source.registered("park")

    assert sorted(a.institution for a in found) == ["004", "240", "243"]
    assert all(a.investor_id == "park" and a.origin == "discovered" for a in found)
    assert {a.institution for a in found if a.enabled} == {
        i.value for i in harness.settings.institutions
    }
    assert all(a.external_ref and a.external_ref not in a.masked_number for a in found)
    bad = await harness.sandbox("POST", "/_sandbox/users", json={"institutions": ["x"]})
    assert bad.status_code == 400
