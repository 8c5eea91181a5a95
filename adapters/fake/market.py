"""An in-memory MarketData: prices set by the test."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

from orchestrator.domain.errors import RequestRefused, SourceError
from orchestrator.domain.model import Quote


class FakeMarketData:
    """Quotes what `set_price` stored, stamped with the clock.

    An unknown symbol raises RequestRefused (the feed answered: no such instrument); a queued
    failure (e.g. SourceUnavailable, "the feed is down") is raised by the next call.
    """

    def __init__(
        self, name: str = "fake-market", clock: Callable[[], datetime] | None = None
    ) -> None:
        self._name = name
        self._clock = clock or (lambda: datetime.now(UTC))
        self._prices: dict[str, tuple[Decimal, str]] = {}
        self._failures: list[SourceError] = []

    def set_price(self, symbol: str, price: Decimal, name: str = "") -> None:
        if not isinstance(price, Decimal):
            raise TypeError("prices are Decimal")
        self._prices[symbol] = (price, name)

    def fail_next(self, error: SourceError) -> None:
        self._failures.append(error)

    async def quote(self, symbol: str) -> Quote:
        if self._failures:
            raise self._failures.pop(0)
        if symbol not in self._prices:
            raise RequestRefused(self._name, f"unknown symbol {symbol}", code="UNKNOWN_SYMBOL")
        price, name = self._prices[symbol]
        return Quote(symbol=symbol, price=price, as_of=self._clock(), name=name)
