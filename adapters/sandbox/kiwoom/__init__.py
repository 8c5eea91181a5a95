"""A faithful stand-in for the Kiwoom REST API, written from specs/second-broker.md alone.

    app = create_app(env="real" | "mock", seed=..., clock=KiwoomClock(start), sleep=fake_sleep)

Serves `/oauth2/token`, `/oauth2/revoke` and, by `api-id` on their category paths, ka00001,
kt10000-kt10003, kt00018, kt00010, ka10075, ka10076, kt00007, ka10001 and ka10095, plus
`/_sandbox/*` levers (state, faults, price, cash, holding, settings, clock). The state is
`app.state.kiwoom` (a `state.KiwoomState`).
"""

from __future__ import annotations

from adapters.sandbox.kiwoom.app import create_app, load_seed
from adapters.sandbox.kiwoom.clock import KiwoomClock
from adapters.sandbox.kiwoom.server import serve
from adapters.sandbox.kiwoom.state import DEMO_SEED, KiwoomState

__all__ = ["DEMO_SEED", "KiwoomClock", "KiwoomState", "create_app", "load_seed", "serve"]
