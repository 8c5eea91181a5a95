"""The adapter over real HTTP: the sandbox served by uvicorn on a loopback port."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest
import uvicorn

from adapters.db.openbanking import build_openbanking_stores
from adapters.fake import FakeClock
from adapters.openbanking import build_openbanking, openbanking_http_client
from adapters.openbanking.endpoints import DEPOSIT
from adapters.sandbox.openbanking import create_app
from orchestrator.domain.model import TransferState
from tests.support.databases import fresh_database

from .conftest import (
    CMA,
    USER,
    account_ref,
    cipher,
    make_resilience,
    make_seed,
    make_settings,
)

STARTUP_DEADLINE_SECONDS = 10.0


@pytest.fixture
async def served(fake_time: FakeClock) -> AsyncIterator[tuple[str, object]]:
    """The sandbox on 127.0.0.1:<free port>, stopped after the test."""
    app = create_app(seed=make_seed(), clock=fake_time.now, sleep=fake_time.sleep)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="critical"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    deadline = time.monotonic() + STARTUP_DEADLINE_SECONDS
    while not server.started:  # yield to the server task; no wall-clock sleeping
        assert time.monotonic() < deadline, "uvicorn did not start in time"
        assert not task.done(), "uvicorn exited during startup"
        await asyncio.sleep(0)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        await task
        sock.close()


async def test_consent_reads_and_a_lost_transfer_reply_over_loopback(
    served: tuple[str, object], fake_time: FakeClock, tmp_path: Path
) -> None:
    """Provision consent, list, read cash and 60 rows, then a deposit whose socket drops."""
    base_url, app = served
    settings = make_settings(base_url=base_url)
    resilience = make_resilience(fake_time)
    async with fresh_database("sqlite", tmp_path) as db, openbanking_http_client(settings) as http:
        ob = build_openbanking(
            settings, resilience, build_openbanking_stores(db, cipher()), http, clock=fake_time
        )
        assert await ob.consent.provision_sandbox_consent(USER)

        accounts = await ob.source.accounts(USER)
        cash = await ob.source.cash(account_ref(CMA), fresh=True)
        rows = [
            t
            async for t in ob.source.transactions(
                account_ref(CMA), date(2026, 1, 1), date(2026, 3, 10)
            )
        ]
        async with openbanking_http_client(settings) as control:
            await control.post(
                f"{base_url}/_sandbox/faults",
                json={"kind": "drop", "phase": "after", "count": 1, "path": DEPOSIT.path},
            )
        record = await ob.transfers.deposit("loopback", 70_000)

    await resilience.aclose()
    assert CMA in {a.external_ref for a in accounts}
    assert cash.deposit > 0
    assert len(rows) == 60
    assert record.state is TransferState.SUCCEEDED
    transfers = app.state.relay.transfers  # type: ignore[attr-defined]
    assert [t.tran_amt for t in transfers.values()] == [70_000]
