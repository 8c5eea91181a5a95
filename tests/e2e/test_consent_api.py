"""Open-banking consent served by the service: start over the API, the sandbox relay's consent
page (as a browser would use it, through the mounted sandbox), our callback, replays and
refusals (400, audited), status with expiry, revocation the relay's way."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx

from adapters.fake import FakeNotifier
from orchestrator import bootstrap
from orchestrator.settings import DEMO_API_KEY, DEMO_VIEWER_KEY

OPERATOR = {"Authorization": f"Bearer {DEMO_API_KEY}"}
VIEWER = {"Authorization": f"Bearer {DEMO_VIEWER_KEY}"}
Service = tuple[bootstrap.Container, httpx.AsyncClient, FakeNotifier]


async def _consent_in_the_browser(api: httpx.AsyncClient, browser_url: str) -> str:
    """Open the page, pick the demo user in its form, submit: where the relay redirects to."""
    path = browser_url.removeprefix("http://127.0.0.1:8080")
    page = await api.get(path)
    assert page.status_code == 200
    assert "<form" in page.text
    assert 'name="sandbox_auto_consent"' in page.text
    assert 'value="demo"' in page.text
    # The form is method=get to the same URL with the chosen user added.
    chosen = await api.get(f"{path}&sandbox_auto_consent=demo")
    assert chosen.status_code == 302
    return chosen.headers["location"]


async def test_consent_round_trip_through_our_callback(service: Service) -> None:
    container, api, _ = service
    revoked = await api.delete("/api/v1/investors/demo/consent", headers=OPERATOR)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["state"] == "revoked"

    started = await api.post("/api/v1/investors/demo/consent", headers=OPERATOR)
    assert started.status_code == 200, started.text
    body = started.json()
    assert body["authorize_url"].startswith("https://testapi.openbanking.or.kr/oauth/2.0/authorize")
    assert body["browser_url"].startswith("http://127.0.0.1:8080/sandbox/openbanking/oauth/")
    query = parse_qs(urlsplit(body["authorize_url"]).query)
    assert query["client_info"] == ["demo"]
    assert "code_challenge" not in query  # the digest found no PKCE at the relay (§1.6)

    location = await _consent_in_the_browser(api, body["browser_url"])
    callback = urlsplit(location)
    assert callback.path == "/openbanking/callback"
    done = await api.get(f"{callback.path}?{callback.query}")  # no API key: the state is it
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "granted"
    assert done.json()["days_left"] == 90
    assert "code" not in done.json()

    # Discovery ran after the grant: every registration at every institution is an account;
    # only the configured institution (Samsung, 240) is read by reconciliation.
    accounts = (await api.get("/api/v1/investors/demo/accounts", headers=VIEWER)).json()
    by_institution = {a["institution"]: a for a in accounts if a["source"] == "openbanking"}
    assert by_institution["240"]["enabled"] is True
    assert by_institution["243"]["enabled"] is False
    assert by_institution["243"]["origin"] == "discovered"
    assert "120260101" not in str(accounts)  # no fintech_use_num leaves the service
    again = await api.post("/api/v1/investors/demo/discover", headers=OPERATOR)
    assert again.status_code == 200
    assert len(again.json()) == len(accounts)  # idempotent

    report = await container.reconcile.run_once(trigger="test", users=["demo"])
    assert report.status == "clean"
    view = (await api.get("/api/v1/investors/demo/view", headers=VIEWER)).json()
    institutions = {i["institution"]: i for i in view["institutions"]}
    assert institutions["240"]["cash"] == "15234870"
    assert {"240", "243"} <= set(institutions)
    assert view["consent"] == "granted"
    assert view["portfolio"]["user_id"] == "demo"

    replay = await api.get(f"{callback.path}?{callback.query}")
    assert replay.status_code == 400
    assert "already used" in replay.json()["detail"]
    forged = await api.get(callback.path, params={"client_info": "demo", "code": "x", "state": "y"})
    assert forged.status_code == 400

    shown = await api.get("/api/v1/investors/demo/consent", headers=VIEWER)
    assert shown.json()["state"] == "granted"
    assert shown.json()["expiring"] is False
    events = [e.action for e in await container.audit.recent(50)]
    assert events.count("openbanking.consent_callback_refused") == 2
    assert "openbanking.consent_granted" in events
    revoke = next(e for e in await container.audit.recent(50) if e.action.endswith("_revoked"))
    assert revoke.actor == "demo-operator"
    assert revoke.detail is not None
    assert revoke.detail["user_close"] == "closed"
    assert (await container.audit.verify()).ok


async def test_consent_routes_need_the_right_role_and_a_known_investor(service: Service) -> None:
    _, api, _ = service
    assert (await api.post("/api/v1/investors/demo/consent", headers=VIEWER)).status_code == 403
    assert (await api.delete("/api/v1/investors/demo/consent", headers=VIEWER)).status_code == 403
    assert (await api.post("/api/v1/investors/nobody/consent", headers=OPERATOR)).status_code == 404
    assert (await api.get("/api/v1/investors/nobody/consent", headers=VIEWER)).status_code == 404


async def test_accountinfo_lists_every_account_and_registers_the_chosen_one(
    service: Service,
) -> None:
    """어카운트인포: all accounts at every securities firm with balances (masked numbers only);
    a consent started with chosen list_nums carries accountinfo_yn=Y and completes."""
    _, api, _ = service
    held = await api.post(
        "/api/v1/investors/demo/accountinfo",
        json={"auth_code": "SANDBOX-AINFO-DEMO", "kind": "securities"},
        headers=OPERATOR,
    )
    assert held.status_code == 200, held.text
    body = held.json()
    by_institution = {a["institution"]: a for a in body["accounts"]}
    assert by_institution["240"]["balance"] == "15234870"
    assert by_institution["240"]["deposit"] == "15234870"
    assert "71001234567801" not in held.text  # the full number stays in the adapter
    assert body["accountinfo_api_tran_id"]

    chosen = by_institution["243"]["list_num"]
    started = await api.post(
        "/api/v1/investors/demo/consent",
        json={
            "accountinfo_api_tran_id": body["accountinfo_api_tran_id"],
            "accountinfo_list_num": [chosen],
        },
        headers=OPERATOR,
    )
    assert started.status_code == 200, started.text
    query = parse_qs(urlsplit(started.json()["authorize_url"]).query)
    assert query["accountinfo_yn"] == ["Y"]
    assert query["accountinfo_list_num"] == [chosen]
    location = await _consent_in_the_browser(api, started.json()["browser_url"])
    callback = urlsplit(location)
    done = await api.get(f"{callback.path}?{callback.query}")
    assert done.status_code == 200, done.text

    unpicked = await api.post(
        "/api/v1/investors/demo/consent",
        json={"accountinfo_api_tran_id": body["accountinfo_api_tran_id"]},
        headers=OPERATOR,
    )
    assert unpicked.status_code == 422
    wrong = await api.post(
        "/api/v1/investors/demo/accountinfo", json={"auth_code": "nope"}, headers=OPERATOR
    )
    assert wrong.status_code in (422, 502), wrong.text  # the relay's refusal, never a 500
