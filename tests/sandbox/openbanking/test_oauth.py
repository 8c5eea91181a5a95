"""OAuth 2.0 of the sandbox relay: authorize, token grants, refresh rotation, revocation."""

from __future__ import annotations

import base64
import json

import httpx

from adapters.fake import FakeClock
from adapters.sandbox.openbanking import Relay

from .conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    DEMO_CI,
    DEMO_SEQ,
    OTHER_CLIENT_ID,
    OTHER_SECRET,
    OTHER_SEQ,
    REDIRECT,
    USE_CODE,
    auth_code,
    authorize_params,
    bearer,
    callback_query,
    oob_token,
    token_call,
    user_token,
)


async def test_authorize_renders_consent_page_with_demo_users(client: httpx.AsyncClient) -> None:
    """Without auto-consent the authorize endpoint shows an HTML form listing demo users."""
    response = await client.get("/oauth/2.0/authorize", params=authorize_params())
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert 'name="sandbox_auto_consent"' in response.text
    assert 'value="demo"' in response.text
    assert 'value="other"' in response.text
    assert f'name="redirect_uri" value="{REDIRECT}"' in response.text


async def test_auto_consent_redirects_with_code_scope_state_and_client_info(
    client: httpx.AsyncClient,
) -> None:
    """sandbox_auto_consent skips the page and 302s to redirect_uri with code, scope, state."""
    params = authorize_params(client_info="ci-xyz", sandbox_auto_consent="demo")
    query = callback_query(await client.get("/oauth/2.0/authorize", params=params))
    assert query["state"] == "s" * 32
    assert query["scope"] == "login inquiry transfer"
    assert query["client_info"] == "ci-xyz"
    assert len(query["code"]) >= 20


async def test_consent_form_submission_is_the_auto_consent_path(client: httpx.AsyncClient) -> None:
    """Choosing a user by user_seq_no on the form grants a code for that user."""
    code = await auth_code(client, user=OTHER_SEQ)
    body = await token_call(
        client,
        grant_type="authorization_code",
        code=code,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uri=REDIRECT,
    )
    assert body["user_seq_no"] == OTHER_SEQ


async def test_authorize_rejects_unknown_client_and_foreign_redirect_without_redirecting(
    client: httpx.AsyncClient,
) -> None:
    """Unknown client_id and unregistered redirect_uri render an error page, never a redirect."""
    bad_client = await client.get(
        "/oauth/2.0/authorize", params=authorize_params(client_id="nobody")
    )
    assert bad_client.status_code == 400
    assert "3000201" in bad_client.text
    bad_redirect = await client.get(
        "/oauth/2.0/authorize", params=authorize_params(redirect_uri="https://evil.example/cb")
    )
    assert bad_redirect.status_code == 400
    assert "3000114" in bad_redirect.text


async def test_authorize_parameter_errors_redirect_with_rsp_code(client: httpx.AsyncClient) -> None:
    """Bad response_type, scope and auth_type come back on the callback as O0001 + sub-code."""
    cases = {
        "3000116": authorize_params(response_type="token"),
        "3000115": authorize_params(scope="login oob"),
        "3000103": authorize_params(auth_type="9"),
    }
    for sub_code, params in cases.items():
        query = callback_query(
            await client.get(
                "/oauth/2.0/authorize", params={**params, "sandbox_auto_consent": "demo"}
            )
        )
        assert query["rsp_code"] == "O0001"
        assert f"[{sub_code}]" in query["rsp_message"]
        assert query["state"] == "s" * 32
        assert "code" not in query


async def test_skip_auth_type_2_uses_bfop_headers(client: httpx.AsyncClient) -> None:
    """auth_type=2 with a login token and matching Kftc-Bfop-* headers issues a code directly."""
    token = await user_token(client, scope="login inquiry")
    headers = {
        "Kftc-Bfop-UserSeqNo": DEMO_SEQ,
        "Kftc-Bfop-UserCI": DEMO_CI,
        "Kftc-Bfop-AccessToken": token["access_token"],
    }
    response = await client.get(
        "/oauth/2.0/authorize", params=authorize_params(auth_type="2"), headers=headers
    )
    assert "code" in callback_query(response)
    headers["Kftc-Bfop-UserCI"] = "wrong"
    response = await client.get(
        "/oauth/2.0/authorize", params=authorize_params(auth_type="2"), headers=headers
    )
    assert callback_query(response)["rsp_code"] == "O0001"


async def test_code_exchange_returns_documented_fields_and_jwt_claims(
    client: httpx.AsyncClient,
) -> None:
    """authorization_code → Bearer token, expires_in 7776000, refresh_token, scope, user_seq_no."""
    body = await user_token(client)
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 7_776_000
    assert body["scope"] == "login inquiry transfer"
    assert body["user_seq_no"] == DEMO_SEQ
    assert body["refresh_token"]
    payload = body["access_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["aud"] == DEMO_SEQ
    assert claims["scope"] == ["inquiry", "login", "transfer"]
    assert claims["iss"] == "https://www.openbanking.or.kr"
    assert {"exp", "jti"} <= set(claims)


async def test_code_is_single_use(client: httpx.AsyncClient) -> None:
    """A second exchange of the same code is refused with O0001 [3002110]."""
    code = await auth_code(client)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uri": REDIRECT,
    }
    assert "access_token" in await token_call(client, **form)
    again = await token_call(client, **form)
    assert again["rsp_code"] == "O0001"
    assert "[3002110]" in again["rsp_message"]
    assert "access_token" not in again


async def test_code_exchange_checks_secret_redirect_and_expiry(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Wrong secret → 3000201, other redirect_uri → 3000114, expired code → 3002110."""
    code = await auth_code(client)
    base = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uri": REDIRECT,
    }
    wrong_secret = await token_call(client, **{**base, "client_secret": "nope"})
    assert "[3000201]" in wrong_secret["rsp_message"]
    other_uri = await token_call(client, **{**base, "redirect_uri": REDIRECT + "/x"})
    assert "[3000114]" in other_uri["rsp_message"]
    late = await auth_code(client)
    clock.advance(11 * 60)
    expired = await token_call(client, **{**base, "code": late})
    assert "[3002110]" in expired["rsp_message"]


async def test_token_endpoint_requires_form_encoding(client: httpx.AsyncClient) -> None:
    """A JSON token request is treated as missing parameters (O0001 [3000103])."""
    response = await client.post(
        "/oauth/2.0/token",
        json={
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "scope": "oob",
        },
    )
    assert response.status_code == 200
    assert response.json()["rsp_code"] == "O0001"
    assert "[3000103]" in response.json()["rsp_message"]


async def test_refresh_rotates_and_old_refresh_token_dies(client: httpx.AsyncClient) -> None:
    """refresh_token grant returns a new pair; the old refresh token cannot be used again."""
    first = await user_token(client)
    form = {
        "grant_type": "refresh_token",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "refresh_token": first["refresh_token"],
        "scope": "login inquiry transfer",
    }
    second = await token_call(client, **form)
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]
    assert second["user_seq_no"] == DEMO_SEQ
    assert second["expires_in"] == 7_776_000
    replay = await token_call(client, **form)
    assert replay["rsp_code"] == "O0001"
    assert "[3002110]" in replay["rsp_message"]
    me = await client.get("/v2.0/user/me", params={"user_seq_no": DEMO_SEQ}, headers=bearer(second))
    assert me.json()["rsp_code"] == "A0000"


async def test_refresh_cannot_widen_scope(client: httpx.AsyncClient) -> None:
    """Asking refresh for a scope the grant never had is refused (3000115)."""
    first = await user_token(client, scope="login inquiry")
    widened = await token_call(
        client,
        grant_type="refresh_token",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        refresh_token=first["refresh_token"],
        scope="login inquiry transfer",
    )
    assert "[3000115]" in widened["rsp_message"]


async def test_client_credentials_oob_and_sa(client: httpx.AsyncClient) -> None:
    """client_credentials issues oob and sa tokens with client_use_code and no refresh token."""
    oob = await oob_token(client)
    assert oob["scope"] == "oob"
    assert oob["client_use_code"] == USE_CODE
    assert oob["token_type"] == "Bearer"
    assert oob["expires_in"] == 7_776_000
    assert "refresh_token" not in oob
    assert "user_seq_no" not in oob
    sa = await oob_token(client, scope="sa")
    assert sa["scope"] == "sa"
    assert sa["client_use_code"] == USE_CODE


async def test_client_credentials_scope_rules_follow_the_probe(client: httpx.AsyncClient) -> None:
    """User scopes → O0001 [3000103]; sa for a non-self-auth client → O0011."""
    inquiry = await token_call(
        client,
        grant_type="client_credentials",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        scope="inquiry",
    )
    assert inquiry["rsp_code"] == "O0001"
    assert "[3000103]" in inquiry["rsp_message"]
    sa = await token_call(
        client,
        grant_type="client_credentials",
        client_id=OTHER_CLIENT_ID,
        client_secret=OTHER_SECRET,
        scope="sa",
    )
    assert sa["rsp_code"] == "O0011"


async def test_revoked_token_is_rejected_with_o0002(client: httpx.AsyncClient) -> None:
    """POST /oauth/2.0/revoke kills the token; the next call answers O0002 and refresh dies too."""
    token = await user_token(client)
    revoked = await client.post(
        "/oauth/2.0/revoke",
        data={
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "access_token": token["access_token"],
        },
    )
    assert revoked.json()["rsp_code"] == "A0000"
    me = await client.get("/v2.0/user/me", params={"user_seq_no": DEMO_SEQ}, headers=bearer(token))
    assert me.status_code == 200
    assert me.json()["rsp_code"] == "O0002"
    refresh = await token_call(
        client,
        grant_type="refresh_token",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        refresh_token=token["refresh_token"],
    )
    assert refresh["rsp_code"] == "O0001"


async def test_revoke_accepts_token_parameter_name_and_needs_client_auth(
    client: httpx.AsyncClient, relay: Relay
) -> None:
    """Revocation takes the token as ``token`` too; a wrong secret revokes nothing."""
    token = await oob_token(client)
    refused = await client.post(
        "/oauth/2.0/revoke",
        data={"client_id": CLIENT_ID, "client_secret": "bad", "token": token["access_token"]},
    )
    assert "[3000201]" in refused.json()["rsp_message"]
    assert not any(t.revoked for t in relay.tokens.by_jti.values())
    await client.post(
        "/oauth/2.0/revoke",
        data={
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "token": token["access_token"],
        },
    )
    assert all(t.revoked for t in relay.tokens.by_jti.values())


async def test_expired_token_answers_o0003(client: httpx.AsyncClient, clock: FakeClock) -> None:
    """After 90 days the access token answers O0003 while refresh still works."""
    token = await user_token(client)
    clock.advance(90 * 86400)
    me = await client.get("/v2.0/user/me", params={"user_seq_no": DEMO_SEQ}, headers=bearer(token))
    assert me.json()["rsp_code"] == "O0003"
    refreshed = await token_call(
        client,
        grant_type="refresh_token",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        refresh_token=token["refresh_token"],
    )
    assert "access_token" in refreshed
