"""Serving the sandbox over HTTP with uvicorn (for demos and the CLI's `sandbox` command).

Plain HTTP on the given host and port: clients swap the KIS https base URL for this one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from adapters.sandbox.kis.app import create_app
from adapters.sandbox.kis.pongs import PongReportingProtocol
from adapters.sandbox.world import WorldStore, durable


def uvicorn_config(
    app: ASGIApp, host: str = "127.0.0.1", port: int = 0, **options: Any
) -> uvicorn.Config:
    """uvicorn settings for a sandbox app: no Date/Server headers of uvicorn's own (it writes
    them in lowercase; the app writes `Date` with the gateway's casing instead), and the
    websocket protocol that reports pong frames (a PINGPONG answered by pong counts)."""
    options.setdefault("log_level", "info")
    options.setdefault("ws", PongReportingProtocol)
    return uvicorn.Config(
        app, host=host, port=port, date_header=False, server_header=False, **options
    )


def serve(
    host: str, port: int, env: str, seed_path: Path | None, state: Path | None = None
) -> None:
    """Run the `env` ("real" or "paper") sandbox until interrupted. Blocks.

    With `state`, the world persists in that file across restarts (see `adapters.sandbox.world`);
    without it, it lives in memory and the next start reseeds.
    """
    if env not in ("real", "paper"):
        raise ValueError(f"env must be 'real' or 'paper', not {env!r}")
    app = create_app(env="real" if env == "real" else "paper", seed_path=seed_path)
    store = None if state is None else WorldStore.open(state)
    try:
        served = app if store is None else durable(app, store, f"kis-{env}", ("broker",))
        uvicorn.Server(uvicorn_config(served, host, port)).run()
    finally:
        if store is not None:
            store.close()
