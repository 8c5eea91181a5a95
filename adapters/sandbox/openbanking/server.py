"""Run the sandbox relay as a real HTTP server (uvicorn)."""

from __future__ import annotations

from pathlib import Path

import uvicorn

from .app import create_app


def serve(host: str, port: int, seed_path: Path | None) -> None:
    """Serve the sandbox on ``host:port`` until interrupted (blocking)."""
    uvicorn.run(create_app(seed_path=seed_path), host=host, port=port, log_level="info")
