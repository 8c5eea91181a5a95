"""Fixtures for the order journal: a fake broker and clock over the real databases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from adapters.db.engine import Database
from adapters.db.orders import DbOrderJournal
from adapters.fake import FakeClock, FakeOrderExecutor
from orchestrator.domain.model import AccountKind, AccountRef, Institution, OrderType, Side
from orchestrator.services.orders import OrderPolicy, OrderRequest, OrderService
from tests.support.databases import cipher_for_tests

START = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # 10:00 KST, market open

ACCOUNT = AccountRef(
    user_id="alice",
    account_id="kis-alice",
    institution=Institution.KIS,
    kind=AccountKind.BROKERAGE,
    external_ref="50000001-01",
    masked_number="5000****-01",
)
OTHER = AccountRef(
    user_id="bob",
    account_id="kis-bob",
    institution=Institution.KIS,
    kind=AccountKind.BROKERAGE,
    external_ref="50000002-01",
    masked_number="5000****-01",
)


@dataclass
class Harness:
    db: Database
    clock: FakeClock
    broker: FakeOrderExecutor
    journal: DbOrderJournal

    def service(self, notifier: Any = None, **policy: Any) -> OrderService:
        """A fresh service on the same journal and broker, as after a restart. The recovery
        gate's wait defaults to 0 here: it is a real wait, and no test may sleep for real."""
        policy.setdefault("ready_wait_seconds", 0.0)
        return OrderService(
            self.journal,
            self.broker,
            self.clock,
            sleep=self.clock.sleep,
            policy=OrderPolicy(**policy),
            notifier=notifier,
        )

    async def ready_service(self, **policy: Any) -> OrderService:
        service = self.service(**policy)
        await service.recover()
        return service


@pytest.fixture
def harness(db: Database) -> Harness:
    clock = FakeClock(START)
    return Harness(
        db=db,
        clock=clock,
        broker=FakeOrderExecutor("fake-kis", clock.now),
        journal=DbOrderJournal(db, cipher_for_tests()),
    )


@pytest.fixture
async def service(harness: Harness) -> OrderService:
    return await harness.ready_service()


def buy(
    key: str,
    *,
    symbol: str = "005930",
    quantity: int = 10,
    price: Decimal | None = Decimal("70000"),
    account: AccountRef = ACCOUNT,
    side: Side = Side.BUY,
) -> OrderRequest:
    return OrderRequest(
        idempotency_key=key,
        account=account,
        symbol=symbol,
        side=side,
        quantity=quantity,
        order_type=OrderType.LIMIT if price is not None else OrderType.MARKET,
        limit_price=price,
    )
