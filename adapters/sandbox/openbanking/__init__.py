"""A faithful local stand-in for the KFTC Open Banking relay (v2.0).

Written from /work/shared/specs/kftc-openbanking.md only; it imports nothing from the client
adapters it stands in for. See README.md in this package for what is simulated.

Public interface: :func:`create_app`, :data:`DEFAULT_SEED_PATH`, :func:`serve`. The app's state is
``app.state.relay`` (:class:`~adapters.sandbox.openbanking.state.Relay`).
"""

from __future__ import annotations

from .app import DEFAULT_SEED_PATH, create_app
from .server import serve
from .state import Relay

__all__ = ["DEFAULT_SEED_PATH", "Relay", "create_app", "serve"]
