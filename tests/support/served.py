"""Serving an ASGI app under uvicorn on 127.0.0.1 and a free port, inside the test's loop."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from adapters.sandbox.kis.server import uvicorn_config


@asynccontextmanager
async def served(app: ASGIApp, **options: Any) -> AsyncIterator[int]:
    """Yields the port; the server stops when the block ends. Sandbox defaults (no uvicorn
    Date/Server headers) apply, so what the client reads is what the app wrote."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    options.setdefault("log_level", "critical")
    options.setdefault("lifespan", "off")
    options.setdefault("timeout_graceful_shutdown", 2)
    server = uvicorn.Server(uvicorn_config(app, **options))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        await task
        sock.close()
