"""Run the sandbox relay as a real HTTP server (uvicorn)."""

from __future__ import annotations

from pathlib import Path

import uvicorn

from adapters.sandbox.world import WorldStore, durable

from .app import create_app


def serve(host: str, port: int, seed_path: Path | None, state: Path | None = None) -> None:
    """Serve the sandbox on ``host:port`` until interrupted (blocking); with ``state`` the world
    persists in that file across restarts."""
    app = create_app(seed_path=seed_path)
    store = None if state is None else WorldStore.open(state)
    try:
        served = app if store is None else durable(app, store, "openbanking", ("relay",))
        uvicorn.run(served, host=host, port=port, log_level="info")
    finally:
        if store is not None:
            store.close()
