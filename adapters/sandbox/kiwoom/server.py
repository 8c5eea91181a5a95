"""Serving the sandbox over plain HTTP with uvicorn (`orchestrator sandbox kiwoom`)."""

from __future__ import annotations

from pathlib import Path

import uvicorn

from adapters.sandbox.kiwoom.app import create_app


def serve(host: str, port: int, env: str, seed_path: Path | None) -> None:
    """Run the `env` ("real" or "mock") sandbox until interrupted. Blocks."""
    if env not in ("real", "mock"):
        raise ValueError(f"env must be 'real' or 'mock', not {env!r}")
    app = create_app(env="real" if env == "real" else "mock", seed_path=seed_path)
    uvicorn.run(app, host=host, port=port, log_level="info")
