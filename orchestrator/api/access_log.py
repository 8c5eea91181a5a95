"""One access-log line per HTTP request: `http.request` with method, route template, status,
milliseconds and `principal`: the API key's configured name, never the key itself (a field
named like a key would be masked by the log scrubber).

The route is the template (`/api/v1/orders/{intent_id}/cancel`), not the path: paths carry ids a
log reader does not need and a scanner's junk we do not want to echo. A pure ASGI middleware, so
streamed and mounted (sandbox) replies are timed to their last byte too.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orchestrator.api.auth import ApiKey

log = structlog.get_logger("orchestrator.api.access")


class AccessLog:
    def __init__(self, app: ASGIApp, keys: Sequence[ApiKey] = ()) -> None:
        self.app = app
        self.keys = tuple(keys)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        root = scope.get("root_path", "")
        status = 500  # what the client gets when the app raises before answering

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            log.info(
                "http.request",
                method=scope.get("method"),
                route=route_template(scope, root),
                status=status,
                ms=round((time.perf_counter() - started) * 1000, 1),
                principal=self.key_id(scope),
            )

    def key_id(self, scope: Scope) -> str | None:
        """The configured name of the bearer key ("unknown" for a key not configured)."""
        header = _header(scope, b"authorization")
        if header is None:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return "unknown"
        digest = hashlib.sha256(token.strip().encode()).hexdigest()
        match = next((k for k in self.keys if hmac.compare_digest(k.sha256, digest)), None)
        return "unknown" if match is None else match.name


def route_template(scope: Scope, root: str = "") -> str:
    """The matched route's template; under a mount, the mount's prefix before it."""
    prefix = str(scope.get("root_path", ""))[len(root) :]
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return prefix + path
    if prefix:
        return prefix + "/{path}"
    return "(unmatched)"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None
