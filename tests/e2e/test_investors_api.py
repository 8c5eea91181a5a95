"""The investors API on the embedded default: onboarding, paging and search, duplicates, roles,
overrides feeding reconciliation, offboarding, and no account reference or secret in a reply."""

from __future__ import annotations

import httpx

from adapters.fake import FakeNotifier
from orchestrator import bootstrap
from orchestrator.settings import DEMO_API_KEY, DEMO_VIEWER_KEY

OPERATOR = {"Authorization": f"Bearer {DEMO_API_KEY}"}
VIEWER = {"Authorization": f"Bearer {DEMO_VIEWER_KEY}"}
Service = tuple[bootstrap.Container, httpx.AsyncClient, FakeNotifier]


async def test_onboard_page_search_and_duplicates(service: Service) -> None:
    container, api, _ = service
    for i in range(5):
        r = await api.post(
            "/api/v1/investors",
            json={"id": f"inv-{i}", "display_name": f"투자자 {i}"},
            headers=OPERATOR,
        )
        assert r.status_code == 201, r.text
    dup = await api.post("/api/v1/investors", json={"id": "inv-1"}, headers=OPERATOR)
    assert dup.status_code == 409
    assert "inv-1" in dup.json()["detail"]
    bad = await api.post("/api/v1/investors", json={"id": "Bad Id"}, headers=OPERATOR)
    assert bad.status_code == 422
    assert (
        await api.post("/api/v1/investors", json={"id": "x"}, headers=VIEWER)
    ).status_code == 403

    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = (await api.get("/api/v1/investors", params=params, headers=VIEWER)).json()
        seen.extend(i["id"] for i in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["demo", "inv-0", "inv-1", "inv-2", "inv-3", "inv-4"]
    found = await api.get("/api/v1/investors", params={"search": "자 3"}, headers=VIEWER)
    assert [i["id"] for i in found.json()["items"]] == ["inv-3"]
    events = [e.action for e in await container.audit.recent(50)]
    assert events.count("investor.created") >= 5


async def test_accounts_overrides_and_offboarding(service: Service) -> None:
    container, api, _ = service
    assert container.openbanking is not None
    assert (await container.openbanking.consent.status("demo")).granted
    detail = await api.get("/api/v1/investors/demo", headers=VIEWER)
    assert detail.status_code == 200
    accounts = {a["id"]: a for a in detail.json()["accounts"]}
    assert accounts["kis-main"]["reconcile"]["orders"] == "kis"
    assert "external_ref" not in accounts["kis-main"]
    assert (await api.get("/api/v1/investors/nobody", headers=VIEWER)).status_code == 404

    r = await api.patch(
        "/api/v1/accounts/kis-main", json={"overrides": {"cash_field": "deposit"}}, headers=OPERATOR
    )
    assert r.status_code == 200, r.text
    mapped = {a.account: a for a in await container.investors.reconciled_accounts()}
    assert mapped["kis-main"].cash_field.value == "deposit"
    wrong = await api.patch(
        "/api/v1/accounts/kis-main", json={"overrides": {"cash_field": "nope"}}, headers=OPERATOR
    )
    assert wrong.status_code == 422
    strict = await api.patch("/api/v1/accounts/kis-main", json={"enabled": "no"}, headers=OPERATOR)
    assert strict.status_code == 422

    off = await api.post(
        "/api/v1/investors/demo/disable", json={"reason": "closed"}, headers=OPERATOR
    )
    assert off.status_code == 200
    assert off.json()["status"] == "disabled"
    assert await container.investors.reconciled_accounts() == ()
    assert await container.reconcile.investors() == []  # no scheduled work for them
    assert not (await container.openbanking.consent.status("demo")).granted
    disabled = [e for e in await container.audit.recent(50) if e.action == "investor.disabled"]
    assert disabled[0].detail is not None
    assert disabled[0].detail["openbanking_consent"] == "revoked"
    revoked = [e for e in await container.audit.recent(50) if e.action.endswith("consent_revoked")]
    assert revoked[0].actor == "demo-operator"  # who offboarded, not the adapter
    assert revoked[0].detail is not None
    assert revoked[0].detail["user_close"] == "closed"  # ended at the relay (§2.12)
    assert disabled[0].detail["credentials_deleted"] == "none"
    assert (await container.audit.verify()).ok


SANDBOX_KEY = "PSdemoAppKeyReal00000000000000000001"
SANDBOX_SECRET = (
    "SandboxDemoSecretRealNotARealKISSandboxDemoSecretRealNotARealKISSandboxDemoSecretRealNot"
    "ARealKISSandboxDemoSecretRealNotARealKISSandboxDemoSecretRealNotARealKISSandboxDemoSecretRea"
)


async def test_kis_key_is_proven_masked_and_refusals_store_nothing(service: Service) -> None:
    container, api, _ = service
    await api.post("/api/v1/investors", json={"id": "kim"}, headers=OPERATOR)
    wrong = await api.put(
        "/api/v1/investors/kim/credentials/kis",
        json={
            "app_key": "PSwrongKey000000000000000000000000001",
            "app_secret": "nope",
            "account": "50012345-01",
        },
        headers=OPERATOR,
    )
    assert wrong.status_code == 422, wrong.text
    assert "KIS refused the key" in wrong.json()["detail"]
    assert await container.investors.store.credentials("kim") == []

    good = await api.put(
        "/api/v1/investors/kim/credentials/kis",
        json={"app_key": SANDBOX_KEY, "app_secret": SANDBOX_SECRET, "account": "50012345-01"},
        headers=OPERATOR,
    )
    assert good.status_code == 200, good.text
    assert good.json()["key_suffix"] == "****0001"
    shown = (await api.get("/api/v1/investors/kim", headers=VIEWER)).text
    assert SANDBOX_KEY not in shown
    assert SANDBOX_SECRET not in shown
    stored = await container.investors.store.credential_secrets("kim", "kis")
    assert stored is not None
    assert stored[1]["app_key"] == SANDBOX_KEY

    gone = await api.delete("/api/v1/investors/kim/credentials/kis", headers=OPERATOR)
    assert gone.status_code == 204
    again = await api.delete("/api/v1/investors/kim/credentials/kis", headers=OPERATOR)
    assert again.status_code == 404
    actions = [e.action for e in await container.audit.recent(50)]
    assert "credential.attached" in actions
    assert "credential.detached" in actions
