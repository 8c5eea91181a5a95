"""Last prices from KIS inquire-price (spec §4.8: FHKST01010100 on both hosts), as MarketData."""

from __future__ import annotations

from adapters.kis import mapping
from adapters.kis.client import KisClient
from adapters.kis.endpoints import PRICE
from adapters.kis.errors import boundary
from adapters.kis.schemas import PriceReply
from orchestrator.domain.model import Quote
from orchestrator.ports import Clock


class KisMarketData:
    """Current KRX price of a symbol; SourceUnavailable when KIS cannot be reached."""

    def __init__(self, client: KisClient, *, clock: Clock) -> None:
        self._client = client
        self._clock = clock

    async def quote(self, symbol: str) -> Quote:
        """The last trade price (`stck_prpr`) of a 6-digit code, stamped with our clock."""
        reply = await self._client.send(PRICE, params=mapping.price_query(symbol))
        with boundary(self._client.source):
            return mapping.quote_from(PriceReply.parse(reply.data), symbol, self._clock.now())
