"""The ASGI app: one Kiwoom REST host, real (`api.kiwoom.com`) or mock (`mockapi.kiwoom.com`).

A client reaches it by changing only its base URL. Every business call is `POST` on a category
path with the `api-id` header choosing the TR; the state is `app.state.kiwoom`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.sandbox.kiwoom import control, errors, oauth
from adapters.sandbox.kiwoom.clock import KiwoomClock
from adapters.sandbox.kiwoom.gateway import PATHS, serve_tr
from adapters.sandbox.kiwoom.state import DEMO_SEED, Env, KiwoomSeed, KiwoomState
from adapters.sandbox.kiwoom.wire import json_response


async def _unknown(request: Request) -> Response:
    return json_response(errors.fail(errors.UNKNOWN_API_ID).body, 404)


def load_seed(path: Path | None = None, seed: Mapping[str, object] | None = None) -> KiwoomSeed:
    """The seed from a mapping, a YAML file, or the demo world."""
    if seed is not None:
        return KiwoomSeed.model_validate(seed)
    if path is not None:
        return KiwoomSeed.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    return KiwoomSeed.model_validate(DEMO_SEED)


def create_app(
    *,
    env: Env = "real",
    seed: Mapping[str, object] | None = None,
    seed_path: Path | None = None,
    clock: KiwoomClock | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> Starlette:
    """A Kiwoom sandbox of flavour `env` ("real" or "mock")."""
    if env not in ("real", "mock"):
        raise ValueError(f"env must be 'real' or 'mock', not {env!r}")
    routes = [Route(path, serve_tr, methods=["POST"]) for path in PATHS] + [
        Route("/oauth2/token", oauth.token, methods=["POST"]),
        Route("/oauth2/revoke", oauth.revoke, methods=["POST"]),
        Route("/_sandbox/state", control.show, methods=["GET"]),
        Route("/_sandbox/faults", control.faults, methods=["GET", "POST", "DELETE"]),
        Route("/_sandbox/price", control.price, methods=["POST"]),
        Route("/_sandbox/cash", control.cash, methods=["POST"]),
        Route("/_sandbox/holding", control.holding, methods=["POST"]),
        Route("/_sandbox/settings", control.settings, methods=["POST"]),
        Route("/_sandbox/clock", control.clock, methods=["GET", "POST"]),
        Route("/{path:path}", _unknown, methods=["GET", "POST", "PUT", "DELETE"]),
    ]
    app = Starlette(routes=routes)
    app.state.kiwoom = KiwoomState(env, load_seed(seed_path, seed), clock or KiwoomClock())
    app.state.sleep = sleep or asyncio.sleep
    return app
