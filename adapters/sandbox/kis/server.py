"""Serving the sandbox over HTTP with uvicorn (for demos and the CLI's `sandbox` command).

Plain HTTP on the given host and port: clients swap the KIS https base URL for this one.
"""

from __future__ import annotations

from pathlib import Path

import uvicorn

from adapters.sandbox.kis.app import create_app


def serve(host: str, port: int, env: str, seed_path: Path | None) -> None:
    """Run the `env` ("real" or "paper") sandbox until interrupted. Blocks."""
    if env not in ("real", "paper"):
        raise ValueError(f"env must be 'real' or 'paper', not {env!r}")
    app = create_app(env="real" if env == "real" else "paper", seed_path=seed_path)
    uvicorn.run(app, host=host, port=port, log_level="info")
