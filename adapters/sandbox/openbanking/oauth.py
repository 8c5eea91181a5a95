"""OAuth 2.0 of the relay (spec §1): authorize (3-legged, with a consent page), token
(authorization_code, refresh_token, client_credentials; form-encoded), revoke.

Errors on the token endpoint are relay-shaped (HTTP 200, ``O0001`` + sub-code in brackets, §1.4,
§3.2). Choices where the spec has gaps (§1.5, §1.6), all documented in README.md:
- refresh rotates: each refresh returns a new refresh token and retires the old one; the previous
  access token stays valid until its own expiry;
- revoke is ``POST /oauth/2.0/revoke`` taking ``client_id``, ``client_secret`` and the token as
  ``access_token`` or ``token`` (sources disagree on the name); revoking kills access + refresh;
- an authorization code lives 10 minutes and is single-use (reuse → O0001 [3002110]).
Authorize errors that cannot be sent back to a verified redirect_uri (unknown client_id, foreign
redirect_uri) render an HTML error page with HTTP 400; the rest redirect with
``rsp_code``/``rsp_message``/``state``, the error callback shape [RS-AUTH] models.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from datetime import timedelta
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from . import codes, consents
from .envelope import RelayError, api_part, relay_json
from .seed import ClientSeed, UserSeed
from .state import Relay
from .tokens import IssuedToken, scope_string

USER_SCOPES = frozenset({"login", "inquiry", "transfer", "cardinfo", "fintechinfo", "insuinfo"})
CLIENT_CREDENTIAL_SCOPES = frozenset({"oob", "sa"})
AUTH_TYPES = frozenset({"0", "1", "2"})
AUTO_CONSENT = "sandbox_auto_consent"


def _auth_error(sub_code: str) -> RelayError:
    return RelayError(codes.O_AUTH_REJECTED, sub_code)


# --- GET /oauth/2.0/authorize ------------------------------------------------------------------


async def authorize(request: Request, relay: Relay) -> Response:
    params = request.query_params
    client_id = params.get("client_id", "")
    redirect_uri = params.get("redirect_uri", "")
    client = relay.clients.get(client_id)
    if not client_id or not redirect_uri:
        return _error_page(_auth_error(codes.SUB_BAD_PARAMETER))
    if client is None:
        return _error_page(_auth_error(codes.SUB_BAD_CLIENT))
    if redirect_uri not in client.redirect_uris:
        return _error_page(_auth_error(codes.SUB_REDIRECT_MISMATCH))

    state = params.get("state", "")
    try:
        scopes = _check_authorize_params(params, client)
        user = _skip_auth_user(request, relay) if params["auth_type"] == "2" else None
    except RelayError as error:
        return _redirect(
            redirect_uri, rsp_code=error.rsp_code, rsp_message=error.rsp_message, state=state
        )

    chosen = params.get(AUTO_CONSENT)
    if user is None and chosen is not None:
        user = relay.user_by_ref(chosen)
        if user is None:
            return HTMLResponse(
                _page("샌드박스 오류", f"<p>Unknown demo user {html.escape(chosen)!s}</p>"),
                status_code=400,
            )
    if user is None:
        return HTMLResponse(_consent_page(params, client, relay))

    consents.reregister(relay, user.user_seq_no)  # a consent registers the accounts again
    code = relay.tokens.new_code(
        now=relay.now(),
        ttl=timedelta(seconds=relay.seed.relay.auth_code_ttl_seconds),
        client_id=client.client_id,
        redirect_uri=redirect_uri,
        user_seq_no=user.user_seq_no,
        scopes=scopes,
    )
    callback = {"code": code.code, "scope": scope_string(scopes)}
    if "client_info" in params:
        callback["client_info"] = params["client_info"]
    callback["state"] = state
    return _redirect(redirect_uri, **callback)


def _check_authorize_params(params: Mapping[str, str], client: ClientSeed) -> frozenset[str]:
    if params.get("response_type") != "code":
        raise _auth_error(codes.SUB_BAD_RESPONSE_TYPE)
    if not params.get("state") or params.get("auth_type") not in AUTH_TYPES:
        raise _auth_error(codes.SUB_BAD_PARAMETER)
    requested = params.get("scope", "").split()
    if not requested or len(set(requested)) != len(requested):
        raise _auth_error(codes.SUB_BAD_PARAMETER)
    scopes = frozenset(requested)
    if not scopes <= USER_SCOPES or not scopes <= set(client.scopes):
        raise _auth_error(codes.SUB_SCOPE_NOT_REGISTERED)
    # §1.1: registering an account chosen from 어카운트인포 needs the result's id and list_num(s).
    if params.get("accountinfo_yn") == "Y" and not (
        params.get("accountinfo_api_tran_id") and params.get("accountinfo_list_num")
    ):
        raise _auth_error(codes.SUB_BAD_PARAMETER)
    return scopes


def _skip_auth_user(request: Request, relay: Relay) -> UserSeed:
    """auth_type=2 (§1.1): the caller vouches with Kftc-Bfop-* headers and a login-scope token."""
    seq = request.headers.get("kftc-bfop-userseqno", "")
    ci = request.headers.get("kftc-bfop-userci", "")
    bearer = request.headers.get("kftc-bfop-accesstoken", "")
    if not (seq and ci and bearer):
        raise _auth_error(codes.SUB_BAD_PARAMETER)
    token = relay.tokens.verify(bearer, relay.now())
    user = relay.users.get(seq)
    if (
        "login" not in token.scopes
        or token.user_seq_no != seq
        or user is None
        or user.user_ci != ci
    ):
        raise _auth_error(codes.SUB_BAD_PARAMETER)
    return user


def _redirect(uri: str, **query: str) -> RedirectResponse:
    separator = "&" if "?" in uri else "?"
    return RedirectResponse(f"{uri}{separator}{urlencode(query)}", status_code=302)


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="ko"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>"
        f"{body}<p><small>KFTC Open Banking sandbox — no real institution is contacted.</small></p>"
        "</body></html>"
    )


def _error_page(error: RelayError) -> HTMLResponse:
    body = (
        f"<p>rsp_code: <code>{html.escape(error.rsp_code)}</code></p>"
        f"<p>rsp_message: <code>{html.escape(error.rsp_message)}</code></p>"
    )
    return HTMLResponse(_page("오픈뱅킹 인증 오류", body), status_code=400)


def _consent_page(params: Mapping[str, str], client: ClientSeed, relay: Relay) -> str:
    # The form re-submits the original query plus the chosen user through the sandbox-only
    # auto-consent parameter, so the browser path and the scripted path share one code path.
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in params.items()
        if k != AUTO_CONSENT
    )
    options = "".join(
        f'<option value="{html.escape(u.id)}">{html.escape(u.user_name)} '
        f"({html.escape(u.id)}, {html.escape(u.user_seq_no)})</option>"
        for u in relay.users.values()
    )
    scopes = html.escape(params.get("scope", ""))
    body = (
        f"<p><strong>{html.escape(client.name)}</strong> 이(가) 다음 권한을 요청합니다: "
        f"<code>{scopes}</code></p>"
        '<form method="get" action="">'
        f'{hidden}<label>데모 사용자 <select name="{AUTO_CONSENT}">{options}</select></label> '
        '<button type="submit">동의하고 계속</button></form>'
    )
    return _page("오픈뱅킹 사용자 인증 (샌드박스)", body)


# --- POST /oauth/2.0/token and /oauth/2.0/revoke -----------------------------------------------


async def _form(request: Request) -> FormData:
    # JSON bodies and query-string parameters on a POST are tutorial bugs (§8.9): parameters
    # only count when they arrive form-encoded.
    content_type = request.headers.get("content-type", "").lower()
    if not content_type.startswith("application/x-www-form-urlencoded"):
        raise _auth_error(codes.SUB_BAD_PARAMETER)
    return await request.form()


def _required(form: FormData, *names: str) -> list[str]:
    values: list[str] = []
    for name in names:
        found = form.getlist(name)
        if len(found) != 1 or not isinstance(found[0], str) or not found[0]:
            raise _auth_error(codes.SUB_BAD_PARAMETER)
        values.append(found[0])
    return values


def _client(relay: Relay, client_id: str, client_secret: str) -> ClientSeed:
    client = relay.clients.get(client_id)
    if client is None or client.client_secret != client_secret:
        raise _auth_error(codes.SUB_BAD_CLIENT)
    return client


async def token(request: Request, relay: Relay) -> Response:
    form = await _form(request)
    (grant_type,) = _required(form, "grant_type")
    if grant_type == "authorization_code":
        issued = _exchange_code(form, relay)
    elif grant_type == "refresh_token":
        issued = _refresh(form, relay)
    elif grant_type == "client_credentials":
        issued = _client_credentials(form, relay)
    else:
        raise _auth_error(codes.SUB_BAD_PARAMETER)
    return relay_json(_token_body(issued, relay))


def _token_body(issued: IssuedToken, relay: Relay) -> dict[str, object]:
    body: dict[str, object] = {
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": int(relay.tokens.access_ttl.total_seconds()),
    }
    if issued.refresh_token is not None:
        body["refresh_token"] = issued.refresh_token
    body["scope"] = scope_string(issued.scopes)
    if issued.user_seq_no is not None:
        body["user_seq_no"] = issued.user_seq_no
    else:
        body["client_use_code"] = issued.client_use_code
    return body


def _exchange_code(form: FormData, relay: Relay) -> IssuedToken:
    code_text, client_id, secret, redirect_uri = _required(
        form, "code", "client_id", "client_secret", "redirect_uri"
    )
    client = _client(relay, client_id, secret)
    now = relay.now()
    code = relay.tokens.codes.get(code_text)
    if code is None or code.used or code.client_id != client.client_id or now >= code.expires_at:
        raise _auth_error(codes.SUB_SESSION_USED)
    if redirect_uri != code.redirect_uri:
        raise _auth_error(codes.SUB_REDIRECT_MISMATCH)
    code.used = True
    return relay.tokens.issue(
        now=now,
        client_id=client.client_id,
        client_use_code=client.client_use_code,
        user_seq_no=code.user_seq_no,
        scopes=code.scopes,
        with_refresh=True,
    )


def _refresh(form: FormData, relay: Relay) -> IssuedToken:
    client_id, secret, refresh_text = _required(form, "client_id", "client_secret", "refresh_token")
    client = _client(relay, client_id, secret)
    now = relay.now()
    old = relay.tokens.by_refresh.get(refresh_text)
    if (
        old is None
        or old.refresh_used
        or old.revoked
        or old.client_id != client.client_id
        or old.refresh_expires_at is None
        or now >= old.refresh_expires_at
    ):
        raise _auth_error(codes.SUB_SESSION_USED)
    scopes = old.scopes
    requested = form.get("scope")
    if isinstance(requested, str) and requested:
        narrowed = frozenset(requested.split())
        if not narrowed <= old.scopes:
            raise _auth_error(codes.SUB_SCOPE_NOT_REGISTERED)
        scopes = narrowed
    old.refresh_used = True
    del relay.tokens.by_refresh[refresh_text]
    return relay.tokens.issue(
        now=now,
        client_id=client.client_id,
        client_use_code=client.client_use_code,
        user_seq_no=old.user_seq_no,
        scopes=scopes,
        with_refresh=True,
    )


def _client_credentials(form: FormData, relay: Relay) -> IssuedToken:
    client_id, secret, scope_text = _required(form, "client_id", "client_secret", "scope")
    client = _client(relay, client_id, secret)
    scopes = frozenset(scope_text.split())
    # §1.4 [PROBE]: user scopes → O0001 [3000103]; sa for a non-self-auth client → O0011.
    if not scopes <= CLIENT_CREDENTIAL_SCOPES:
        raise _auth_error(codes.SUB_BAD_PARAMETER)
    if "sa" in scopes and not client.self_auth:
        raise RelayError(codes.O_SCOPE_NOT_ALLOWED)
    if not scopes <= set(client.scopes):
        raise _auth_error(codes.SUB_SCOPE_NOT_REGISTERED)
    return relay.tokens.issue(
        now=relay.now(),
        client_id=client.client_id,
        client_use_code=client.client_use_code,
        user_seq_no=None,
        scopes=scopes,
        with_refresh=False,
    )


async def revoke(request: Request, relay: Relay) -> Response:
    form = await _form(request)
    client_id, secret = _required(form, "client_id", "client_secret")
    client = _client(relay, client_id, secret)
    text = form.get("access_token") or form.get("token")
    if not isinstance(text, str) or not text:
        raise _auth_error(codes.SUB_BAD_PARAMETER)
    found = relay.tokens.find(text)
    # Like RFC 7009, an unknown or foreign token is not an error: nothing is revealed or revoked.
    if found is not None and found.client_id == client.client_id:
        relay.tokens.revoke(found)
    return relay_json(api_part(relay.now()))
