"""Websocket pong control frames, made visible to the real-time service.

KIS's heartbeat is a `PINGPONG` text message the client must answer (spec §7.2). Clients answer
it two ways: by sending the text back (legacy samples, python-kis) or, as the newest official
sample core does, with a websocket pong control frame carrying that text (`ws.pong(raw)`).
Both keep a real session open. ASGI never shows control frames to the app, so this uvicorn
websocket protocol (uvicorn's websockets-sansio one, which the sandbox is served with) reports
every pong through a scope extension, `PONG_EXTENSION`: the app registers a callback there and
counts a pong carrying the PINGPONG text as the echo.

Served any other way (another protocol, or in-process through httpx/TestClient), the extension
is absent and only the text echo counts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

PONG_EXTENSION = "kis.sandbox.pong"

PongCallback = Callable[[bytes], None]


class PongListener:
    """Where one connection's pongs go: the callbacks the app registered."""

    def __init__(self) -> None:
        self._callbacks: list[PongCallback] = []

    def subscribe(self, callback: PongCallback) -> None:
        self._callbacks.append(callback)

    def notify(self, payload: bytes) -> None:
        for callback in self._callbacks:
            callback(payload)


class PongReportingProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol, plus the pong extension in every websocket scope.

    Everything else (uvicorn's own keepalive pings, close handling) is unchanged.
    """

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:  # set only when the handshake was accepted
            scope["extensions"][PONG_EXTENSION] = PongListener()

    def handle_pong(self, event: Any) -> None:
        super().handle_pong(event)
        scope = getattr(self, "scope", None)
        listener = None if scope is None else scope["extensions"].get(PONG_EXTENSION)
        if isinstance(listener, PongListener):
            listener.notify(bytes(event.data))


def pong_listener(scope: Any) -> PongListener | None:
    """The connection's listener when it is served by `PongReportingProtocol`, else None."""
    listener = (scope.get("extensions") or {}).get(PONG_EXTENSION)
    return listener if isinstance(listener, PongListener) else None
