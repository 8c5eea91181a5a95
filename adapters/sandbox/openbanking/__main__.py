"""``python -m adapters.sandbox.openbanking [--host H] [--port P] [--seed FILE]``."""

from __future__ import annotations

import argparse
from pathlib import Path

from .server import serve


def main() -> None:
    parser = argparse.ArgumentParser(description="KFTC Open Banking relay sandbox")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8701)
    parser.add_argument("--seed", type=Path, default=None, help="seed YAML (default: bundled)")
    args = parser.parse_args()
    serve(args.host, args.port, args.seed)


if __name__ == "__main__":
    main()
