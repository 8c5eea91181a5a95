"""The adapter against the sandbox served by uvicorn on a loopback port: real sockets."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from prometheus_client import CollectorRegistry

from adapters.fake import FakeClock, FakeTokenVault
from adapters.http import ResilienceSettings, build_resilience
from adapters.kis import build_kis, kis_http_client
from adapters.sandbox.kis import create_app
from orchestrator.domain.errors import OrderOutcomeUnknown
from tests.adapters.kis.conftest import (
    SESSION_TIME,
    demo_settings,
    shared_time,
)
from tests.adapters.kis.support import intent


@pytest.fixture
async def served(seed_data: dict[str, Any]) -> AsyncIterator[tuple[str, Any, FakeClock]]:
    """The real-flavour sandbox under uvicorn on 127.0.0.1 and a free port; stopped after."""
    timeline, clock = shared_time()
    app = create_app(env="real", seed=seed_data, clock=clock, sleep=timeline.sleep)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="off", log_level="critical", ws="none", http="h11")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}", app, timeline
    finally:
        server.should_exit = True
        await task
        sock.close()


async def test_orders_and_reads_over_a_loopback_socket(
    served: tuple[str, Any, FakeClock],
) -> None:
    """Over real HTTP: buy, see the position, and a dropped reply is OrderOutcomeUnknown."""
    base_url, app, timeline = served
    settings = await demo_settings(app, base_url=base_url)
    resilience = build_resilience(
        ResilienceSettings(backoff_jitter_seconds=0),
        registry=CollectorRegistry(),
        clock=timeline,
        sleep=timeline.sleep,
        limiter_timer=timeline.monotonic,
    )
    async with kis_http_client(settings) as http:
        kis = build_kis(settings, resilience, FakeTokenVault(), http, clock=timeline)
        account = (await kis.accounts.accounts("demo"))[0]

        report = await kis.executor.submit(intent(account, "000660"))
        positions = await kis.accounts.positions(account, fresh=True)
        async with httpx.AsyncClient(base_url=base_url) as raw:
            await raw.post("/_sandbox/faults", json={"lost_reply": {"count": 1}})
        with pytest.raises(OrderOutcomeUnknown):
            await kis.executor.submit(intent(account, "035420"))
        listed = await kis.executor.orders_since(account, SESSION_TIME - timedelta(minutes=1))
    await resilience.aclose()

    assert report.order_id
    assert [p.quantity for p in positions if p.symbol == "000660"] == [1]
    assert [r.symbol for r in listed] == ["000660", "035420"]
