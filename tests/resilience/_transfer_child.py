"""One guarded deposit in its own process, for the transfer crash suite (killed with SIGKILL).

    python -m tests.resilience._transfer_child DB_URL RELAY_URL KEY AMOUNT SHIFT_SECONDS

Wires the open-banking adapter as the service does (SQLite journal, encrypted token vault,
resilient layer) against the relay sandbox at RELAY_URL, prints `ready` once wired, then calls
`deposit(KEY, AMOUNT)` and prints the recorded state. SHIFT_SECONDS moves this process's clock
forward: a replay run past the no-record grace settles what a killed run left unresolved.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta
from decimal import Decimal

from prometheus_client import CollectorRegistry

from adapters.db.engine import Database
from adapters.db.openbanking import build_openbanking_stores
from adapters.http import ResilienceSettings, build_resilience
from adapters.openbanking import build_openbanking, openbanking_http_client
from orchestrator.logging import configure_logging
from tests.adapters.openbanking.conftest import make_settings
from tests.resilience.test_crash_orders import _Shifted
from tests.support.databases import cipher_for_tests


async def main(db_url: str, relay_url: str, key: str, amount: str, shift: str) -> int:
    configure_logging("WARNING", stream=sys.stderr)  # stdout carries only the driver's lines
    clock = _Shifted(timedelta(seconds=float(shift)))
    settings = make_settings(base_url=relay_url)
    db = Database(db_url)
    resilience = build_resilience(
        ResilienceSettings(backoff_jitter_seconds=0.0), registry=CollectorRegistry(), clock=clock
    )
    try:
        stores = build_openbanking_stores(db, cipher_for_tests())
        async with openbanking_http_client(settings) as http:
            ob = build_openbanking(settings, resilience, stores, http, clock=clock)
            print("ready", flush=True)  # noqa: T201 - the driver's signal
            record = await ob.transfers.deposit(key, Decimal(amount))
            print(f"state={record.state.value}", flush=True)  # noqa: T201
    finally:
        await resilience.aclose()
        await db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(*sys.argv[1:6])))
