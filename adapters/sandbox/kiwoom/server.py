"""Serving the sandbox over plain HTTP with uvicorn (`orchestrator sandbox kiwoom`)."""

from __future__ import annotations

from pathlib import Path

import uvicorn

from adapters.sandbox.kiwoom.app import create_app
from adapters.sandbox.world import WorldStore, durable


def serve(
    host: str, port: int, env: str, seed_path: Path | None, state: Path | None = None
) -> None:
    """Run the `env` ("real" or "mock") sandbox until interrupted. Blocks.

    With `state`, the world (`app.state.kiwoom`) persists in that file across restarts (the
    generic `adapters.sandbox.world`); without it, it lives in memory and the next start reseeds.
    """
    if env not in ("real", "mock"):
        raise ValueError(f"env must be 'real' or 'mock', not {env!r}")
    app = create_app(env="real" if env == "real" else "mock", seed_path=seed_path)
    store = None if state is None else WorldStore.open(state)
    try:
        served = app if store is None else durable(app, store, f"kiwoom-{env}", ("kiwoom",))
        uvicorn.run(served, host=host, port=port, log_level="info")
    finally:
        if store is not None:
            store.close()
