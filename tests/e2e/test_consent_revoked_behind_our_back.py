"""The investor withdraws their open-banking consent at the relay, and nobody tells us.

The next reconciliation notices (the relay rejects the token, then the refresh), marks the
consent expired, reports the Samsung account as a stale source naming the consent, alerts once,
and opens no false break (no cash mismatch on the account it could not read, nothing on the
others). A second run neither alerts again nor crashes; a new consent clears it.
"""

from __future__ import annotations

from typing import Any

from orchestrator.domain.model import BreakKind
from orchestrator.settings import DEMO_API_KEY

OPERATOR = {"Authorization": f"Bearer {DEMO_API_KEY}"}
REVOKE = "/sandbox/openbanking/_sandbox/users/demo/revoke"


async def test_consent_revoked_at_the_relay_is_noticed_once_without_false_breaks(
    service: Any,
) -> None:
    container, client, notifier = service
    ob = container.openbanking
    assert ob is not None
    baseline = await container.reconcile.run_once(trigger="test")
    assert baseline.status == "clean"
    alerts_before = len(notifier.sent)

    revoked = await client.post(REVOKE)
    assert revoked.status_code == 200
    assert revoked.json()["tokens_revoked"] >= 1
    ob.tokens.forget("demo")  # as after `recheck_seconds`: the copy in memory is read again

    first = await container.reconcile.run_once(trigger="test")
    second = await container.reconcile.run_once(trigger="test")

    assert first.status == second.status == "breaks"
    status = await ob.consent.status("demo")
    assert status.state is not None
    assert status.state.value == "expired"
    breaks = (await client.get("/api/v1/breaks", headers=OPERATOR)).json()
    assert [b["kind"] for b in breaks] == [BreakKind.STALE_SOURCE.value]
    (stale,) = breaks
    assert stale["account_id"].startswith("ob-")
    assert "consent" in stale["detail"]
    # The layer's routine "rejected an expired token" warning (O0002, renewed by the adapter) is
    # not a page; the one alert about this is the stale source naming the account.
    new_alerts = [a for a in notifier.sent[alerts_before:] if not a.key.endswith("token_renewed")]
    assert len(new_alerts) == 1, [a.key for a in new_alerts]
    assert "stale_source" in new_alerts[0].key
    assert new_alerts[0].detail["user_id"] == "demo"
    actions = [e.action for e in await container.audit.recent(100)]
    assert actions.count("openbanking.consent_expired") == 1
    assert (await client.get("/readyz")).status_code == 200  # nothing crashed

    # The investor consents again: the next run reads the account and the break resolves.
    assert await ob.consent.provision_sandbox_consent("demo")
    third = await container.reconcile.run_once(trigger="test")
    assert third.status == "clean"
    assert (await client.get("/api/v1/breaks", headers=OPERATOR)).json() == []
