"""The sandbox served by uvicorn on a loopback port, reached by a real httpx client."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette

from tests.sandbox.kis.conftest import AppFactory
from tests.sandbox.kis.helpers import Kis


@pytest.fixture
def served(make_app: AppFactory) -> Iterator[tuple[Starlette, str]]:
    """The real-flavour app under uvicorn on 127.0.0.1 and a free port, in a thread."""
    app = make_app("real")
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="critical", lifespan="off", ws="none"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield app, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


async def test_lost_reply_drops_the_socket_but_books_the_order(
    served: tuple[Starlette, str],
) -> None:
    """Over real HTTP the lost-reply fault closes the connection mid-reply; the order stands."""
    app, base_url = served
    async with httpx.AsyncClient(base_url=base_url) as http:
        kis = Kis(http, app.state.broker)
        await kis.login()
        await http.post("/_sandbox/faults", json={"lost_reply": {"count": 1}})

        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            await kis.order("buy", "005930", 3)
        rows = (await kis.daily_ccld()).json()["output1"]

    assert [(r["odno"], r["ord_qty"], r["tot_ccld_qty"]) for r in rows] == [
        ("0000482713", "3", "3")
    ]
