"""Sandboxes the CLI serves by name, so a new one needs no CLI code (`orchestrator sandbox NAME`).

KIS and open banking have their own commands (older, with their own options); sandboxes added
since register here. Imports are lazy: listing the commands must not load every sandbox.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class ServedSandbox:
    name: str
    summary: str
    flavours: tuple[str, ...]
    default_port: int
    # host, port, flavour, seed path, state file (None: in memory)
    serve: Callable[[str, int, str, Path | None, Path | None], None]


def _serve_kiwoom(
    host: str, port: int, flavour: str, seed: Path | None, state: Path | None
) -> None:
    from adapters.sandbox.kiwoom import serve

    serve(host, port, flavour, seed, state)


SERVED: tuple[ServedSandbox, ...] = (
    ServedSandbox(
        name="kiwoom",
        summary="Serve the Kiwoom REST sandbox (same paths, api-ids, fields and codes).",
        flavours=("real", "mock"),
        default_port=18003,
        serve=_serve_kiwoom,
    ),
)
