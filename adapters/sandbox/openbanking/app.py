"""Assembly of the sandbox relay as a Starlette ASGI app.

Routing mirrors the endpoint map (spec §0). Every relay path accepts any method so that a wrong
one can be answered the relay's way — HTTP 200 with ``O0010`` (§0 "Method gotcha") — instead of a
framework 405; unknown paths answer ``O0005``. ``/_sandbox/*`` routes are ordinary REST.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from . import accountinfo, accounts, codes, consents, oauth, sandbox_api, transactions, transfers
from .envelope import RelayError, error_response
from .faults import FaultMiddleware, Sleep
from .formats import KST
from .seed import load_seed
from .state import Relay

DEFAULT_SEED_PATH: Final = Path(__file__).with_name("default_seed.yaml")
ALL_METHODS: Final = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

Handler = Callable[[Request, Relay], Awaitable[Response]]


@dataclass(frozen=True)
class Endpoint:
    path: str
    method: str
    handler: Handler


ENDPOINTS: Final = (
    Endpoint("/oauth/2.0/authorize", "GET", oauth.authorize),
    Endpoint("/oauth/2.0/token", "POST", oauth.token),
    Endpoint("/oauth/2.0/revoke", "POST", oauth.revoke),
    Endpoint("/v2.0/user/me", "GET", accounts.user_me),
    Endpoint("/v2.0/account/list", "GET", accounts.account_list),
    Endpoint("/v2.0/account/balance/fin_num", "GET", accounts.balance),
    Endpoint("/v2.0/account/transaction_list/fin_num", "GET", transactions.transaction_list),
    Endpoint("/v2.0/transfer/deposit/fin_num", "POST", transfers.deposit),
    Endpoint("/v2.0/transfer/withdraw/fin_num", "POST", transfers.withdraw),
    Endpoint("/v2.0/transfer/result", "POST", transfers.result),
    Endpoint("/v2.0/inquiry/real_name", "POST", accounts.real_name),
    Endpoint("/v2.0/accountinfo/list", "POST", accountinfo.accountinfo_list),
    Endpoint("/v2.0/account/cancel", "POST", consents.account_cancel),
    Endpoint("/v2.0/user/close", "POST", consents.user_close),
)


def _relay_route(endpoint: Endpoint) -> Route:
    async def handle(request: Request) -> Response:
        relay: Relay = request.app.state.relay
        try:
            if request.method != endpoint.method:
                raise RelayError(codes.O_METHOD_NOT_ALLOWED)
            return await endpoint.handler(request, relay)
        except RelayError as error:
            echoed = getattr(request.state, "bank_tran_id", None)
            if echoed is not None and error.bank is None:
                error.extra.setdefault("bank_tran_id", echoed)
            return error_response(relay.now(), error)

    # Starlette answers HEAD for GET routes itself; listing every verb keeps O0010 ours.
    return Route(endpoint.path, handle, methods=ALL_METHODS)


async def _unknown_path(request: Request) -> Response:
    relay: Relay = request.app.state.relay
    return error_response(relay.now(), RelayError(codes.O_API_NOT_FOUND))


def _routes() -> list[BaseRoute]:
    routes: list[BaseRoute] = [_relay_route(e) for e in ENDPOINTS]
    routes += [
        Route("/_sandbox/users", sandbox_api.users, methods=["GET"]),
        Route("/_sandbox/users", consents.add_users, methods=["POST"]),
        Route("/_sandbox/users/{ref}/revoke", consents.revoke_behind_the_back, methods=["POST"]),
        Route("/_sandbox/faults", sandbox_api.faults, methods=["GET", "POST", "DELETE"]),
        Route("/_sandbox/transactions", sandbox_api.transactions, methods=["POST"]),
        Route("/_sandbox/balances", sandbox_api.balances, methods=["POST"]),
        Route("/_sandbox/transfers", sandbox_api.transfers, methods=["GET"]),
        Route("/_sandbox/reset", sandbox_api.reset, methods=["POST"]),
        Route("/{path:path}", _unknown_path, methods=ALL_METHODS),
    ]
    return routes


def _system_clock() -> datetime:
    return datetime.now(KST)


def create_app(
    *,
    seed_path: Path | None = None,
    seed: Mapping[str, Any] | None = None,
    clock: Callable[[], datetime] | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> Starlette:
    """Build the sandbox relay. State lives at ``app.state.relay`` (a :class:`Relay`).

    ``seed`` (a parsed mapping) and ``seed_path`` are exclusive; neither means the bundled
    ``default_seed.yaml``. ``clock`` must return timezone-aware datetimes; ``sleep`` is what
    latency and timeout faults await (tests pass a recorder so nothing really sleeps).
    """
    if seed is not None and seed_path is not None:
        raise ValueError("pass seed or seed_path, not both")
    parsed = (
        load_seed(data=seed) if seed is not None else load_seed(path=seed_path or DEFAULT_SEED_PATH)
    )
    wait: Sleep = sleep if sleep is not None else asyncio.sleep
    app = Starlette(routes=_routes(), middleware=[Middleware(FaultMiddleware, sleep=wait)])
    app.state.relay = Relay.from_seed(parsed, clock or _system_clock)
    return app
