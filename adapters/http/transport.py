"""An ASGI transport that fails like a socket when the in-process app drops the connection."""

from __future__ import annotations

import httpx


class InProcessTransport(httpx.ASGITransport):
    """Serves an in-process ASGI app (the sandboxes); an OSError from it becomes httpx.ReadError.

    The sandboxes raise ConnectionResetError to play "the upstream took the request, then the
    connection dropped". Over a real socket the client sees ReadError; mapping it here lets the
    same error handling (outcome unknown for a write) run in-process.
    """

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except OSError as exc:
            raise httpx.ReadError(str(exc) or type(exc).__name__, request=request) from exc
