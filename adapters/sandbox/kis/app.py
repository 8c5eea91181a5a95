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
from starlette.routing import Route

from adapters.sandbox.kis import control, errors, oauth
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


def _order_cash(call: Call) -> Reply:
    side: Side = BUY if call.variant == "buy" else SELL
    return _as_reply(place_cash_order(call.broker, call.appkey, call.params, side), call)


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
        Route("/_sandbox/clock", control.clock, methods=["GET", "POST"]),
        Route("/_sandbox/faults", control.faults, methods=["GET", "POST", "DELETE"]),
        Route("/_sandbox/cash", control.cash, methods=["POST"]),
        Route("/{path:path}", _no_service, methods=["GET", "POST", "PUT", "DELETE"]),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(GatewayCasing)])
    app.state.broker = Broker(env, seed_model, clock)
    app.state.sleep = sleep or asyncio.sleep
    return app
