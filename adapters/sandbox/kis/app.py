"""The ASGI app: one KIS environment (real or paper) with its routes (spec §1, §4.10).

Real hosts are https://openapi.koreainvestment.com:9443 and paper
https://openapivts.koreainvestment.com:29443; one app stands in for one of them, and a
client reaches it by changing only its base URL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Literal

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute

from adapters.sandbox.kis import control, errors, oauth, websocket
from adapters.sandbox.kis.balance import inquire_balance, inquire_psbl_order, inquire_psbl_sell
from adapters.sandbox.kis.broker import Broker
from adapters.sandbox.kis.calls import Call, Reply, success
from adapters.sandbox.kis.clock import SandboxClock
from adapters.sandbox.kis.gateway import Endpoint, business_endpoint
from adapters.sandbox.kis.ledger import BUY, SELL, Side
from adapters.sandbox.kis.order_list import inquire_daily_ccld, inquire_psbl_rvsecncl
from adapters.sandbox.kis.quotes import inquire_price
from adapters.sandbox.kis.seed import load_seed
from adapters.sandbox.kis.trading import Booked, amend_order, place_cash_order
from adapters.sandbox.kis.wire import GatewayCasing, json_response

_TRADING = "/uapi/domestic-stock/v1/trading"


def _as_reply(booked: Booked, call: Call) -> Reply:
    envelope = success(call.broker, (booked.msg_cd, booked.msg1))
    return Reply({**envelope, "output": booked.output}, booked=True)


def _notice_rejection(call: Call, side: Side, failure: errors.KisFailure) -> None:
    """A refused order of a known account is announced on the notice stream too (RFUS_YN 1);
    input-format errors (OPSQ…) never became an order and are not."""
    if failure.status != 200 or failure.body.get("msg_cd", "").startswith("OPSQ"):
        return
    p = call.params
    number = f"{p.text('CANO', required=False)}-{p.text('ACNT_PRDT_CD', required=False)}"
    if number not in call.broker.accounts:
        return
    call.broker.notices.rejected(
        number,
        pdno=p.text("PDNO", required=False),
        buy=side == BUY,
        division=p.text("ORD_DVSN", required=False),
        qty=p.text("ORD_QTY", required=False),
        price=p.text("ORD_UNPR", required=False),
        branch=call.broker.book.branch,
        at=call.broker.now(),
    )


def _order_cash(call: Call) -> Reply:
    side: Side = BUY if call.variant == "buy" else SELL
    try:
        booked = place_cash_order(call.broker, call.appkey, call.params, side)
    except errors.KisFailure as failure:
        _notice_rejection(call, side, failure)
        raise
    return _as_reply(booked, call)


def _order_rvsecncl(call: Call) -> Reply:
    return _as_reply(amend_order(call.broker, call.appkey, call.params), call)


# TR ids per environment (spec §4.10); old ids are still accepted. The variant tells the
# handler what the TR means: buy/sell for orders, recent/archive period for daily-ccld.
ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        f"{_TRADING}/order-cash",
        "POST",
        {
            "real": {
                "TTTC0012U": "buy",
                "TTTC0011U": "sell",
                "TTTC0802U": "buy",
                "TTTC0801U": "sell",
            },
            "paper": {
                "VTTC0012U": "buy",
                "VTTC0011U": "sell",
                "VTTC0802U": "buy",
                "VTTC0801U": "sell",
            },
        },
        _order_cash,
    ),
    Endpoint(
        f"{_TRADING}/order-rvsecncl",
        "POST",
        {"real": {"TTTC0013U": "", "TTTC0803U": ""}, "paper": {"VTTC0013U": "", "VTTC0803U": ""}},
        _order_rvsecncl,
    ),
    Endpoint(
        f"{_TRADING}/inquire-balance",
        "GET",
        {"real": {"TTTC8434R": ""}, "paper": {"VTTC8434R": ""}},
        inquire_balance,
    ),
    Endpoint(
        f"{_TRADING}/inquire-daily-ccld",
        "GET",
        {
            "real": {
                "TTTC0081R": "recent",
                "TTTC8001R": "recent",
                "CTSC9215R": "archive",
                "CTSC9115R": "archive",
            },
            "paper": {
                "VTTC0081R": "recent",
                "VTTC8001R": "recent",
                "VTSC9215R": "archive",
                "VTSC9115R": "archive",
            },
        },
        inquire_daily_ccld,
    ),
    Endpoint(
        f"{_TRADING}/inquire-psbl-order",
        "GET",
        {"real": {"TTTC8908R": ""}, "paper": {"VTTC8908R": ""}},
        inquire_psbl_order,
    ),
    Endpoint(
        f"{_TRADING}/inquire-psbl-rvsecncl",
        "GET",
        {"real": {"TTTC0084R": "", "TTTC8036R": ""}},
        inquire_psbl_rvsecncl,
    ),
    Endpoint(
        f"{_TRADING}/inquire-psbl-sell",
        "GET",
        {"real": {"TTTC8408R": ""}},
        inquire_psbl_sell,
    ),
    Endpoint(
        "/uapi/domestic-stock/v1/quotations/inquire-price",
        "GET",
        {"real": {"FHKST01010100": ""}, "paper": {"FHKST01010100": ""}},
        inquire_price,
    ),
)


async def _no_service(request: Request) -> Response:
    return json_response(errors.gateway(*errors.NO_SERVICE).body, 404)


def create_app(
    *,
    env: Literal["real", "paper"] = "real",
    seed_path: Path | None = None,
    seed: Mapping[str, object] | None = None,
    clock: SandboxClock | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    ws_heartbeat_seconds: float | None = 10.0,
    ws_poll_seconds: float = 1.0,
) -> Starlette:
    """A KIS sandbox for `env`, seeded from `seed` (a mapping) or the YAML at `seed_path`.

    Without a clock, sandbox time ticks from the seed's `start` or else from now. `sleep`
    serves latency faults (default asyncio.sleep); tests pass a fake to avoid waiting.
    """
    if env not in ("real", "paper"):
        raise ValueError(f"env must be 'real' or 'paper', not {env!r}")
    seed_model = load_seed(seed_path, seed)
    if clock is None:
        clock = SandboxClock(seed_model.start, ticking=True)
    routes = [Route(e.path, business_endpoint(e), methods=[e.method]) for e in ENDPOINTS] + [
        Route("/oauth2/tokenP", oauth.token_p, methods=["POST"]),
        Route("/oauth2/revokeP", oauth.revoke_p, methods=["POST"]),
        Route("/oauth2/Approval", oauth.approval, methods=["POST"]),
        Route("/uapi/hashkey", oauth.hashkey, methods=["POST"]),
        Route("/_sandbox/accounts", control.accounts, methods=["GET"]),
        Route("/_sandbox/investors", control.investors, methods=["POST"]),
        Route("/_sandbox/clock", control.clock, methods=["GET", "POST"]),
        Route("/_sandbox/faults", control.faults, methods=["GET", "POST", "DELETE"]),
        Route("/_sandbox/cash", control.cash, methods=["POST"]),
        Route("/_sandbox/websocket", websocket.control, methods=["GET", "POST"]),
        WebSocketRoute("/", websocket.realtime),
        WebSocketRoute("/tryitout", websocket.realtime),
        WebSocketRoute("/tryitout/{tr_id}", websocket.realtime),
        Route("/{path:path}", _no_service, methods=["GET", "POST", "PUT", "DELETE"]),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(GatewayCasing), Middleware(websocket.PokeAfterRequests)],
    )
    broker = Broker(env, seed_model, clock)
    app.state.broker = broker
    app.state.sleep = sleep or asyncio.sleep
    app.state.realtime_hub = websocket.Hub(
        broker,
        app.state.sleep,
        heartbeat_seconds=ws_heartbeat_seconds,
        poll_seconds=ws_poll_seconds,
    )
    return app
