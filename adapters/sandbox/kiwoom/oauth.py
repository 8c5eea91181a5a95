"""`POST /oauth2/token` (au10001) and `POST /oauth2/revoke` (au10002), digest §2.2.

Issue takes `grant_type=client_credentials`, `appkey` and `secretkey` (not `appsecret`) and
answers `token`, `token_type` "bearer" and `expires_dt` (`YYYYMMDDHHMMSS`, KST); there is no
`expires_in` and no refresh token. A key of the other environment gets 8030.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response

from adapters.sandbox.kiwoom import errors
from adapters.sandbox.kiwoom.calls import ok
from adapters.sandbox.kiwoom.errors import KiwoomFailure
from adapters.sandbox.kiwoom.gateway import read_body
from adapters.sandbox.kiwoom.state import KiwoomState
from adapters.sandbox.kiwoom.wire import expires_dt, json_response


def _state(request: Request) -> KiwoomState:
    state: KiwoomState = request.app.state.kiwoom
    return state


def _app_of(state: KiwoomState, body: Mapping[str, object]) -> str:
    appkey, secret = body.get("appkey"), body.get("secretkey")
    if not isinstance(appkey, str) or not isinstance(secret, str) or not appkey or not secret:
        raise errors.fail(errors.NO_KEYS)
    app = state.apps.get(appkey)
    if app is None:
        raise errors.fail(errors.BAD_APPKEY)
    if app.env != state.env:
        raise errors.fail(errors.WRONG_ENV_KEY)
    if app.secretkey != secret:
        raise errors.fail(errors.BAD_SECRET)
    return appkey


def _check_api_id(request: Request, expected: str) -> None:
    given = request.headers.get("api-id", "").strip()
    if given and given != expected:
        raise errors.fail(errors.WRONG_URI)


async def token(request: Request) -> Response:
    state = _state(request)
    try:
        _check_api_id(request, "au10001")
        body = await read_body(request)
        grant = body.get("grant_type")
        if not grant:
            raise errors.fail(errors.NO_GRANT_TYPE)
        if grant != "client_credentials":
            raise errors.fail(errors.BAD_GRANT_TYPE)
        issued = state.issue_token(_app_of(state, body))
    except KiwoomFailure as failure:
        return json_response(failure.body, failure.status)
    return json_response(
        ok(
            {
                "expires_dt": expires_dt(issued.expires_at),
                "token_type": "bearer",
                "token": issued.value,
            }
        )
    )


async def revoke(request: Request) -> Response:
    state = _state(request)
    try:
        _check_api_id(request, "au10002")
        body = await read_body(request)
        appkey = _app_of(state, body)
        value = body.get("token")
        issued = state.tokens.get(value) if isinstance(value, str) else None
        if issued is None or issued.appkey != appkey:
            raise errors.fail(errors.REVOKE_FAILED)
        issued.revoked = True
    except KiwoomFailure as failure:
        return json_response(failure.body, failure.status)
    return json_response(ok({}))
