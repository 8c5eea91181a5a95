from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httpx
import pytest

from adapters.http import InProcessTransport, Resilience
from orchestrator.domain.errors import OrderOutcomeUnknown
from tests.resilience.conftest import no_error


async def drops_after_booking(
    scope: MutableMapping[str, Any],
    receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
    send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
) -> None:
    """A sandbox that books the order, then drops the connection before replying."""
    raise ConnectionResetError("connection dropped after booking")


async def test_dropped_connection_becomes_read_error() -> None:
    """An OSError from the in-process app surfaces as httpx.ReadError, like over a socket."""
    transport = InProcessTransport(app=drops_after_booking)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as http:
        with pytest.raises(httpx.ReadError):
            await http.post("/order")


async def test_dropped_connection_on_an_order_is_outcome_unknown(resilience: Resilience) -> None:
    """Through the client, an order whose connection dropped after booking is outcome unknown."""
    transport = InProcessTransport(app=drops_after_booking)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as http:
        client = resilience.client("kis", http)
        with pytest.raises(OrderOutcomeUnknown):
            await client.call(
                "POST",
                "/order",
                endpoint="order",
                translate=no_error,
                write=True,
                unknown_error=OrderOutcomeUnknown,
            )
