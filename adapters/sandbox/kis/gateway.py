"""The gateway in front of every business API: faults, keys, token, rate limit, TR id
(spec §3 headers, §4.10 TR ids, §5 statuses, §6 EGW codes).

Checks run in the order a request meets them: injected faults; `appkey` (a key of the other
environment gets EGW02004/EGW02007); `appsecret`; the bearer token (EGW00121/EGW00123);
the per-key rate limit (EGW00201); `custtype` when sent (absent is tolerated, as in the
field); `tr_id` (a real TR on the paper host gets EGW02006); content type, body and
optional `hashkey` on POSTs. Replies echo `tr_id`, carry `gt_uid`, and `tr_cont` on pages.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response

from adapters.sandbox.kis import errors
from adapters.sandbox.kis.auth import body_hash
from adapters.sandbox.kis.broker import Broker
from adapters.sandbox.kis.calls import Call, Reply
from adapters.sandbox.kis.errors import KisFailure
from adapters.sandbox.kis.faults import (
    DroppedConnection,
    LatencyRule,
    ServerErrorRule,
    route_path,
)
from adapters.sandbox.kis.params import Params
from adapters.sandbox.kis.seed import Env
from adapters.sandbox.kis.wire import json_response

Handler = Callable[[Call], Reply]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A business API: its path, method and the TR ids each environment accepts on it."""

    path: str
    method: Literal["GET", "POST"]
    tr_ids: Mapping[Env, Mapping[str, str]]  # env -> tr_id -> variant the handler sees
    handler: Handler


def _gt_uid(broker: Broker, headers: Headers) -> str:
    given = headers.get("gt_uid")
    if given:
        return given
    broker.served += 1
    stamp = f"{broker.seed.seed}|{broker.env}|{broker.served}"
    return hashlib.sha256(stamp.encode()).hexdigest()[:32]


async def run_faults(request: Request, broker: Broker) -> Response | None:
    """Latency, then a 5xx or EGW00201 instead of the real answer, if a fault rule fires."""
    path = route_path(request.scope)
    sleep: Callable[[float], Awaitable[None]] = request.app.state.sleep
    latency = broker.faults.fire("latency", path)
    if isinstance(latency, LatencyRule):
        await sleep(latency.seconds)
    outage = broker.faults.fire("error_5xx", path)
    if isinstance(outage, ServerErrorRule):
        status = outage.status
        if status == 500:
            return json_response(errors.gateway(*errors.TEMPORARY).body, 500)
        html = f"<html><body><h1>{status}</h1>upstream unavailable</body></html>"
        return Response(html, status_code=status, media_type="text/html")
    if broker.faults.fire("rate_limit", path) is not None:
        return json_response(errors.gateway(*errors.RATE_LIMITED).body, 500)
    return None


def check_appkey(broker: Broker, headers: Headers) -> str:
    appkey = headers.get("appkey", "")
    if appkey in broker.foreign_appkeys:
        raise errors.gateway(
            *(errors.PAPER_KEY_ON_REAL if broker.env == "real" else errors.REAL_KEY_ON_PAPER)
        )
    app = broker.apps.get(appkey)
    if app is None:
        raise errors.gateway(*errors.BAD_APPKEY)
    if headers.get("appsecret", "") != app.appsecret:
        raise errors.gateway(*errors.BAD_APPSECRET)
    return appkey


def _resolve_tr(broker: Broker, endpoint: Endpoint, tr_id: str) -> str:
    if not tr_id:
        raise errors.business(*errors.MISSING_TR_ID)
    own = endpoint.tr_ids.get(broker.env, {})
    if tr_id in own:
        return own[tr_id]
    if broker.env == "paper":
        # A real TR, or any TR of an API paper does not offer (spec §4.6, §4.10).
        if tr_id in endpoint.tr_ids.get("real", {}) or not own:
            raise errors.gateway(*errors.NOT_A_PAPER_TR)
    elif tr_id in endpoint.tr_ids.get("paper", {}):
        raise errors.gateway(*errors.PAPER_TR_ON_REAL)
    raise errors.gateway(*errors.NO_SERVICE)


async def _params(request: Request, endpoint: Endpoint) -> Params:
    if endpoint.method == "GET":
        return Params(dict(request.query_params), case_insensitive=True)
    if "application/json" not in request.headers.get("content-type", "").lower():
        raise errors.gateway(*errors.BAD_CONTENT_TYPE)
    raw = await request.body()
    try:
        body = json.loads(raw)
    except ValueError:
        raise errors.business(*errors.BAD_JSON) from None
    if not isinstance(body, dict):
        raise errors.business(*errors.BAD_JSON)
    hashkey = request.headers.get("hashkey")
    if hashkey and hashkey != body_hash(body):
        raise errors.gateway(*errors.BAD_HASHKEY)
    return Params(body)


def business_endpoint(endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette endpoint that runs `endpoint.handler` behind the gateway checks."""

    async def serve(request: Request) -> Response:
        broker: Broker = request.app.state.broker
        tr_id = request.headers.get("tr_id", "").strip()
        headers = {"tr_id": tr_id, "gt_uid": _gt_uid(broker, request.headers)}
        faulted = await run_faults(request, broker)
        if faulted is not None:
            return faulted
        try:
            appkey = check_appkey(broker, request.headers)
            now = broker.now()
            broker.tokens.check(request.headers.get("authorization"), appkey, now)
            if not broker.limiter.admit(appkey, now):
                raise errors.gateway(*errors.RATE_LIMITED)
            if request.headers.get("custtype", "P") not in ("P", "B"):
                raise errors.gateway(*errors.BAD_CUSTTYPE)
            variant = _resolve_tr(broker, endpoint, tr_id)
            params = await _params(request, endpoint)
            broker.sync()
            reply = endpoint.handler(
                Call(broker, appkey, params, tr_id, variant, request.headers.get("tr_cont"))
            )
        except KisFailure as failure:
            return json_response(failure.body, failure.status, headers)
        lost = reply.booked and broker.faults.fire("lost_reply", route_path(request.scope))
        if lost:
            return DroppedConnection()
        if reply.tr_cont is not None:
            headers["tr_cont"] = reply.tr_cont
        return json_response(reply.body, 200, headers)

    return serve
