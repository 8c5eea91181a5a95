"""The KIS adapters satisfy the upstream ports (statically, through mypy on this file)."""

from __future__ import annotations

from adapters.kis import Kis
from orchestrator.ports import AccountSource, MarketData, OrderExecutor
from tests.adapters.kis.conftest import Harness


def _ports(kis: Kis) -> tuple[AccountSource, OrderExecutor, MarketData]:
    return kis.accounts, kis.executor, kis.market


async def test_adapters_stand_behind_the_ports(real: Harness) -> None:
    """KisAccountSource, KisOrderExecutor and KisMarketData type-check as the ports; named kis."""
    source, executor, _market = _ports(real.kis)

    assert (source.name, executor.name) == ("kis", "kis")
