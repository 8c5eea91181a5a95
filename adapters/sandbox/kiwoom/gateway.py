"""The gateway in front of every TR: faults, `api-id`, token, rate limit, body (digest §2.1).

Checks run in the order a request meets them: injected latency/5xx/throttle; `api-id` present
(1501), known (1505) and served on this path (1504); JSON content type (1512); the bearer token
(1514 absent, 8005 unknown/expired/revoked, 8031 issued by the other environment); the per-key
budget of the TR's bucket (queries or orders; `return_code 5 [1700]` on HTTP 200 or HTTP 429,
by `state.throttle_style`); mock gaps (1999); a JSON object body (1517); then the handler.
Replies carry `api-id`, `cont-yn` and `next-key` headers.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Literal

from starlette.requests import Request
from starlette.responses import Response

from adapters.sandbox.kiwoom import account, errors, quotes, trading
from adapters.sandbox.kiwoom.calls import Call, Reply
from adapters.sandbox.kiwoom.errors import KiwoomFailure
from adapters.sandbox.kiwoom.faults import DroppedConnection
from adapters.sandbox.kiwoom.state import KiwoomState
from adapters.sandbox.kiwoom.wire import json_response

Handler = Callable[[Call], Reply]
Bucket = Literal["query", "order"]

ORDER_PATH = "/api/dostk/ordr"
ACCOUNT_PATH = "/api/dostk/acnt"
STKINFO_PATH = "/api/dostk/stkinfo"
# path -> api-id -> (bucket, handler)
CATALOGUE: dict[str, dict[str, tuple[Bucket, Handler]]] = {
    ORDER_PATH: {
        "kt10000": ("order", trading.buy),
        "kt10001": ("order", trading.sell),
        "kt10002": ("order", trading.modify),
        "kt10003": ("order", trading.cancel),
    },
    ACCOUNT_PATH: {
        "ka00001": ("query", account.account_number),
        "kt00018": ("query", account.balance),
        "kt00010": ("query", account.buying_power),
        "ka10075": ("query", account.open_orders),
        "ka10076": ("query", account.fills),
        "kt00007": ("query", account.history),
    },
    STKINFO_PATH: {
        "ka10001": ("query", quotes.basic_info),
        "ka10095": ("query", quotes.multi_quote),
    },
}
# API ids of the vendor's catalogue (digest §2.3, KW-ERR) the sandbox does not serve, by path:
# asking for them on the right path says the mock/sandbox lacks them (1999), elsewhere 1504.
NOT_SERVED: dict[str, str] = {
    "kt00001": ACCOUNT_PATH,
    "kt00004": ACCOUNT_PATH,
    "kt00005": ACCOUNT_PATH,
    "kt00009": ACCOUNT_PATH,
    "kt00011": ACCOUNT_PATH,
    "ka10085": ACCOUNT_PATH,
    "ka10004": "/api/dostk/mrkcond",
    "ka10081": "/api/dostk/chart",
    "kt10006": "/api/dostk/crdordr",
    "kt10007": "/api/dostk/crdordr",
    "kt10008": "/api/dostk/crdordr",
    "kt10009": "/api/dostk/crdordr",
}
# TRs the mock host does not offer (digest §2.6: "some TRs are unavailable in mock").
MOCK_GAPS = frozenset({"ka10095"})
PATHS = (*CATALOGUE, "/api/dostk/mrkcond", "/api/dostk/chart", "/api/dostk/crdordr")


def _home(api_id: str) -> str | None:
    for path, ids in CATALOGUE.items():
        if api_id in ids:
            return path
    return NOT_SERVED.get(api_id)


def _resolve(path: str, api_id: str) -> tuple[Bucket, Handler]:
    if not api_id:
        raise errors.fail(errors.NO_API_ID)
    home = _home(api_id)
    if home is None:
        raise errors.fail(errors.UNKNOWN_API_ID)
    if home != path:
        raise errors.fail(errors.WRONG_URI)
    served = CATALOGUE.get(path, {}).get(api_id)
    if served is None:
        raise errors.fail(errors.MOCK_UNSUPPORTED)
    return served


def throttled(state: KiwoomState) -> KiwoomFailure:
    if state.throttle_style == "http429":
        return errors.fail(errors.RATE_LIMITED, 429)
    return errors.fail(errors.RATE_LIMITED)


def bearer_token(state: KiwoomState, authorization: str | None) -> str:
    """The app key of a valid bearer token, or the failure the header earns."""
    if not authorization:
        raise errors.fail(errors.NO_AUTHORIZATION)
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value:
        raise errors.fail(errors.NO_AUTHORIZATION)
    token = state.tokens.get(value)
    if token is None:
        if state.is_foreign_token(value):
            raise errors.fail(errors.WRONG_ENV_TOKEN)
        raise errors.fail(errors.TOKEN_INVALID)
    if token.revoked or token.expires_at <= state.now():
        raise errors.fail(errors.TOKEN_INVALID)  # on HTTP 200, not 401 (digest §2.4)
    return token.appkey


async def _fault(request: Request, state: KiwoomState, api_id: str) -> Response | None:
    sleep: Callable[[float], Awaitable[None]] = request.app.state.sleep
    latency = state.faults.fire("latency", api_id)
    if latency is not None:
        await sleep(latency.seconds)
    outage = state.faults.fire("error_5xx", api_id)
    if outage is not None:
        html = f"<html><body><h1>{outage.status}</h1>upstream unavailable</body></html>"
        return Response(html, status_code=outage.status, media_type="text/html")
    if state.faults.fire("rate_limit", api_id) is not None:
        failure = throttled(state)
        return json_response(failure.body, failure.status)
    return None


async def read_body(request: Request) -> Mapping[str, object]:
    if "application/json" not in request.headers.get("content-type", "").lower():
        raise errors.fail(errors.BAD_CONTENT_TYPE)
    raw = await request.body()
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise errors.fail(errors.BAD_INPUT) from None
    if not isinstance(body, dict):
        raise errors.fail(errors.BAD_INPUT)
    return body


async def serve_tr(request: Request) -> Response:
    """Every business TR: one Starlette endpoint per category path."""
    state: KiwoomState = request.app.state.kiwoom
    path = request.url.path.removeprefix(request.scope.get("root_path", ""))
    api_id = request.headers.get("api-id", "").strip()
    headers = {"api-id": api_id, "cont-yn": "N", "next-key": ""}
    state.served += 1
    faulted = await _fault(request, state, api_id)
    if faulted is not None:
        return faulted
    try:
        bucket, handler = _resolve(path, api_id)
        body = await read_body(request)
        appkey = bearer_token(state, request.headers.get("authorization"))
        limit = state.orders_per_second if bucket == "order" else state.queries_per_second
        if not state.windows.admit((appkey, bucket), limit, state.now()):
            raise throttled(state)
        if state.env == "mock" and api_id in MOCK_GAPS:
            raise errors.fail(errors.MOCK_UNSUPPORTED)
        app = state.apps[appkey]
        state.match()
        reply = handler(
            Call(
                state,
                appkey,
                state.accounts[app.account],
                api_id,
                body,
                request.headers.get("cont-yn", "").strip().upper(),
                request.headers.get("next-key", "").strip(),
            )
        )
    except KiwoomFailure as failure:
        return json_response(failure.body, failure.status, headers)
    if reply.booked and state.faults.fire("lost_reply", api_id) is not None:
        return DroppedConnection()
    headers["cont-yn"] = reply.cont_yn
    headers["next-key"] = reply.next_key
    return json_response(reply.body, 200, headers)
