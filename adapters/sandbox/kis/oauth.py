"""The OAuth-chapter endpoints: tokenP, revokeP, hashkey and Approval (spec §2.1–§2.4).

They answer flat JSON without `rt_cd`; failures are HTTP 403 with
`error_code`/`error_description`. tokenP's `expires_in` is the one integer on the wire,
as in the spec's example.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import Response

from adapters.sandbox.kis import errors
from adapters.sandbox.kis.auth import EXPIRES_IN, body_hash
from adapters.sandbox.kis.broker import Broker
from adapters.sandbox.kis.errors import KisFailure
from adapters.sandbox.kis.gateway import run_faults
from adapters.sandbox.kis.wire import json_response, kst_stamp

REVOKED = "접근토큰 폐기에 성공하였습니다"

Builder = Callable[[Request, Broker], Awaitable[dict[str, object]]]


async def _json_body(request: Request) -> Mapping[str, object]:
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise errors.oauth(*errors.BAD_REQUEST) from None
    if not isinstance(body, dict):
        raise errors.oauth(*errors.BAD_REQUEST)
    return body


def _credentials(broker: Broker, appkey: object, secret: object) -> str:
    app = broker.apps.get(appkey) if isinstance(appkey, str) else None
    if app is None:
        raise errors.oauth(*errors.BAD_APPKEY)
    if secret != app.appsecret:
        raise errors.oauth(*errors.BAD_APPSECRET)
    return app.appkey


async def _answer(request: Request, build: Builder) -> Response:
    broker: Broker = request.app.state.broker
    faulted = await run_faults(request, broker)
    if faulted is not None:
        return faulted
    try:
        body = await build(request, broker)
    except KisFailure as failure:
        return json_response(failure.body, failure.status)
    return json_response(body)


async def _token(request: Request, broker: Broker) -> dict[str, object]:
    body = await _json_body(request)
    if body.get("grant_type") != "client_credentials":
        raise errors.oauth(*errors.BAD_REQUEST)
    appkey = _credentials(broker, body.get("appkey"), body.get("appsecret"))
    token = broker.tokens.issue(appkey, broker.now())
    return {
        "access_token": token.value,
        "access_token_token_expired": kst_stamp(token.expires_at),
        "token_type": "Bearer",
        "expires_in": EXPIRES_IN,
    }


async def _revoke(request: Request, broker: Broker) -> dict[str, object]:
    body = await _json_body(request)
    appkey = _credentials(broker, body.get("appkey"), body.get("appsecret"))
    token = body.get("token")
    if not isinstance(token, str) or not broker.tokens.revoke(token, appkey):
        raise errors.oauth(*errors.TOKEN_INVALID)
    return {"code": 200, "message": REVOKED}


async def _hashkey(request: Request, broker: Broker) -> dict[str, object]:
    _credentials(broker, request.headers.get("appkey"), request.headers.get("appsecret"))
    body = await _json_body(request)
    return {"BODY": body, "HASH": body_hash(body)}


async def _approval(request: Request, broker: Broker) -> dict[str, object]:
    body = await _json_body(request)
    if body.get("grant_type") != "client_credentials":
        raise errors.oauth(*errors.BAD_REQUEST)
    # Approval names the secret `secretkey`, not `appsecret` (spec §2.4).
    appkey = _credentials(broker, body.get("appkey"), body.get("secretkey"))
    return {"approval_key": broker.tokens.approval_key(appkey, broker.now())}


async def token_p(request: Request) -> Response:
    """POST /oauth2/tokenP."""
    return await _answer(request, _token)


async def revoke_p(request: Request) -> Response:
    """POST /oauth2/revokeP."""
    return await _answer(request, _revoke)


async def hashkey(request: Request) -> Response:
    """POST /uapi/hashkey."""
    return await _answer(request, _hashkey)


async def approval(request: Request) -> Response:
    """POST /oauth2/Approval."""
    return await _answer(request, _approval)
