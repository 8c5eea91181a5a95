"""Last prices from ka10001 (one code) and ka10095 (up to 100 codes a call), as MarketData."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from adapters.kiwoom import mapping
from adapters.kiwoom.client import KiwoomClient
from adapters.kiwoom.endpoints import MULTI_QUOTE, MULTI_QUOTE_MAX, PRICE
from adapters.kiwoom.errors import boundary
from adapters.kiwoom.schemas import QuoteReply
from orchestrator.domain.errors import RequestRefused
from orchestrator.domain.model import Quote
from orchestrator.ports import Clock


class KiwoomMarketData:
    """Current KRX price of a symbol; SourceUnavailable when Kiwoom cannot be reached."""

    def __init__(self, client: KiwoomClient, *, clock: Clock) -> None:
        self._client = client
        self._clock = clock

    async def quote(self, symbol: str) -> Quote:
        reply = await self._client.send(PRICE, {"stk_cd": symbol})
        with boundary(self._client.source):
            return mapping.quote_from(QuoteReply.parse(reply.data), symbol, self._clock.now())

    async def quotes(self, symbols: Sequence[str]) -> Mapping[str, Quote]:
        """Many prices, 100 codes per ka10095 call; one ka10001 each where the host lacks
        ka10095 (the mock answers 1999)."""
        wanted = list(dict.fromkeys(symbols))
        out: dict[str, Quote] = {}
        for start in range(0, len(wanted), MULTI_QUOTE_MAX):
            chunk = wanted[start : start + MULTI_QUOTE_MAX]
            try:
                reply = await self._client.send(MULTI_QUOTE, {"stk_cd": "|".join(chunk)})
            except RequestRefused as e:
                if e.code != "1999":
                    raise
                for symbol in chunk:
                    out[symbol] = await self.quote(symbol)
                continue
            now = self._clock.now()
            with boundary(self._client.source):
                for raw in reply.data.get(MULTI_QUOTE.rows) or []:
                    row = QuoteReply.parse(raw)
                    code = mapping.symbol(row.stk_cd)
                    out[code] = mapping.quote_from(row, code, now)
        return out
