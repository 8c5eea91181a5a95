"""A faithful stand-in for the KIS Open API (REST), written from specs/kis-openapi.md.

    app = create_app(env="real", seed=..., clock=SandboxClock(start), sleep=fake_sleep)

Serves tokenP/revokeP/hashkey/Approval, order-cash, order-rvsecncl, inquire-balance,
inquire-daily-ccld, inquire-psbl-order, inquire-psbl-rvsecncl, inquire-psbl-sell and
quotations/inquire-price, the real-time websocket (`websocket.py`: trades, quotes and
encrypted execution notices), plus `/_sandbox/*` levers (accounts, clock, faults, cash,
websocket).

The state is `app.state.broker` (a `broker.Broker`): `accounts` keyed "CANO-ACNT_PRDT_CD"
(`deposit`, `positions`, `fills`, `unsettled`), `book.orders` (every order, modify and cancel
record), `clock`, `prices` (`price(pdno, at)`, `raw(pdno, at)`), `tokens`, `faults`,
`limiter`, `notices` (the execution-notice log), `realtime` (websocket levers). Call
`broker.sync()` before reading it outside a request to bring fills up to the sandbox time.
"""

from __future__ import annotations

from adapters.sandbox.kis.app import create_app
from adapters.sandbox.kis.clock import SandboxClock
from adapters.sandbox.kis.seed import DEFAULT_SEED_PATH
from adapters.sandbox.kis.server import serve

__all__ = ["DEFAULT_SEED_PATH", "SandboxClock", "create_app", "serve"]
