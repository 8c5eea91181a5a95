"""Fills: learned from the broker's order list, recorded once per increment."""

from __future__ import annotations

from decimal import Decimal

from orchestrator.domain.model import OrderState
from orchestrator.services.orders import OrderService
from tests.orders.conftest import OTHER, Harness, buy


async def test_fill_sync_records_each_increment_once(
    harness: Harness, service: OrderService
) -> None:
    """Reading the same list twice records nothing new; increments carry their own price."""
    placed = await service.place(buy("k1", quantity=10))
    assert placed.broker_order_id is not None
    order_id = placed.broker_order_id
    harness.broker.fill(order_id, 4, Decimal("70000"))

    first = await service.sync_fills(placed.intent.account)
    repeat = await service.sync_fills(placed.intent.account)
    partial = await service.get(placed.id)
    harness.broker.fill(order_id, 6, Decimal("69500"))
    await service.sync_fills(placed.intent.account)
    await service.sync_fills(placed.intent.account)
    filled = await service.get(placed.id)
    fills = await service.fills(placed.id)

    assert (first.fills_recorded, repeat.fills_recorded) == (1, 0)
    assert partial is not None
    assert partial.state is OrderState.PARTIALLY_FILLED
    assert partial.filled_quantity == 4
    assert filled is not None
    assert filled.state is OrderState.FILLED
    assert filled.avg_fill_price == Decimal("69700")
    assert [(f.quantity, f.price) for f in fills] == [
        (4, Decimal("70000")),
        (6, Decimal("69500")),
    ]
    assert all(f.order_id == order_id for f in fills)


async def test_partly_filled_then_cancelled_order_keeps_its_fills(
    harness: Harness, service: OrderService
) -> None:
    """A cancel after a partial fill ends CANCELLED with the filled part recorded."""
    placed = await service.place(buy("k1", quantity=10))
    assert placed.broker_order_id is not None
    harness.broker.fill(placed.broker_order_id, 3, Decimal("70000"))

    await service.cancel(placed.id)
    await service.sync_fills(placed.intent.account)
    final = await service.get(placed.id)

    assert final is not None
    assert final.state is OrderState.CANCELLED
    assert final.filled_quantity == 3
    assert len(await service.fills(placed.id)) == 1


async def test_fill_sync_reads_only_the_account_asked_for(
    harness: Harness, service: OrderService
) -> None:
    """Syncing one account leaves another user's orders alone; no list read when nothing is open."""
    mine = await service.place(buy("a1"))
    theirs = await service.place(buy("b1", account=OTHER))
    for record in (mine, theirs):
        assert record.broker_order_id is not None
        harness.broker.fill(record.broker_order_id, 10, Decimal("70000"))

    report = await service.sync_fills(mine.intent.account)
    nothing = await service.sync_fills(mine.intent.account)

    after_theirs = await service.get(theirs.id)
    assert report.fills_recorded == 1
    assert nothing.orders_checked == 0
    assert after_theirs is not None
    assert after_theirs.state is OrderState.ACCEPTED
