"""The bodies of `orchestrator orders place | cancel | list`."""

from __future__ import annotations

from orchestrator.domain.errors import OrderRejected
from orchestrator.orders_cli import cancel_command, list_command, place_command
from tests.orders.conftest import ACCOUNT, Harness


async def test_place_command_recovers_first_and_prints_the_key(harness: Harness) -> None:
    """`orders place` runs recovery, places once per key and prints the key for a safe repeat."""
    service = harness.service()

    first = await place_command(
        service, ACCOUNT, symbol="005930", side="BUY", quantity=3, price="70,000", key="op-1"
    )
    again = await place_command(
        service, ACCOUNT, symbol="005930", side="buy", quantity=3, price="70000", key="op-1"
    )

    assert first.exit_code == 0
    assert "-> accepted" in first.text
    assert "idempotency key: op-1" in first.text
    assert again.text == first.text
    assert len(harness.broker.sent) == 1


async def test_place_command_refuses_bad_input_and_reports_rejection(harness: Harness) -> None:
    """Bad arguments exit 2 without sending; a broker rejection exits 1 with its code."""
    service = harness.service()
    harness.broker.fail_next(OrderRejected("fake-kis", "no money", code="APBK0952"))

    bad = await place_command(service, ACCOUNT, symbol="005930", side="hold", quantity=1)
    rejected = await place_command(service, ACCOUNT, symbol="005930", side="sell", quantity=1)

    assert bad.exit_code == 2
    assert rejected.exit_code == 1
    assert "code APBK0952" in rejected.text


async def test_cancel_and_list_commands(harness: Harness) -> None:
    """`orders cancel` cancels once; `orders list` shows the table filtered by state."""
    service = harness.service()
    placed = await place_command(
        service, ACCOUNT, symbol="005930", side="buy", quantity=3, price="70000", key="op-1"
    )
    [record] = await service.list_orders()

    cancelled = await cancel_command(service, record.id)
    listing = await list_command(service, states=["cancelled"])
    empty = await list_command(service, states=["filled"])
    wrong = await list_command(service, states=["bogus"])

    assert placed.exit_code == 0
    assert "cancel confirmed" in cancelled.text
    assert record.id in listing.text.splitlines()[1]
    assert listing.text.splitlines()[0].startswith("created (KST)")
    assert empty.text == "no orders"
    assert wrong.exit_code == 2
    assert wrong.text.startswith("--state: unknown bogus (one of: accepted, cancelled,")
