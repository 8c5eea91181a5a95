"""KIS Open API adapter: OrderExecutor, AccountSource and MarketData for Korea Investment.

`build_kis(settings, resilience, vault, http)` wires one app key's adapters over the shared
resilient layer; `kis_http_client(settings)` makes the httpx client for the real hosts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from adapters.http import DisplayCache, Resilience
from adapters.http.limiter import Sleep
from adapters.http.tokens import TokenVault
from adapters.kis.account import KisAccountSource
from adapters.kis.auth import KisTokens
from adapters.kis.client import KisClient
from adapters.kis.executor import KisOrderExecutor
from adapters.kis.quotes import KisMarketData
from adapters.kis.settings import KisSettings
from orchestrator.clock import SystemClock
from orchestrator.domain.model import CashBalance, Position
from orchestrator.ports import Clock

__all__ = [
    "Kis",
    "KisAccountSource",
    "KisClient",
    "KisMarketData",
    "KisOrderExecutor",
    "KisSettings",
    "KisTokens",
    "TokenVault",
    "build_kis",
    "kis_http_client",
]

UPSTREAM = "kis"


@dataclass(frozen=True, slots=True)
class Kis:
    """The KIS adapters of one app key, sharing one client, token holder and display cache."""

    client: KisClient
    tokens: KisTokens
    accounts: KisAccountSource
    executor: KisOrderExecutor
    market: KisMarketData


def kis_http_client(
    settings: KisSettings, *, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """An httpx client for KIS: the settings' timeouts, no redirects, an honest User-Agent.

    Pass `transport` (e.g. `adapters.http.InProcessTransport(app=...)`) for an in-process sandbox.
    """
    return httpx.AsyncClient(
        transport=transport,
        timeout=settings.http_timeout(),
        follow_redirects=False,
        headers={"user-agent": "hybrid-broker-orchestrator/0.1 (httpx)"},
    )


def build_kis(
    settings: KisSettings,
    resilience: Resilience,
    vault: TokenVault,
    http: httpx.AsyncClient,
    *,
    clock: Clock | None = None,
    sleep: Sleep | None = None,
    cache_timer: Callable[[], float] = time.monotonic,
) -> Kis:
    """Wire the KIS adapters. URLs are absolute (`settings.host`), so `http` needs no base_url.

    `sleep` (default: the layer's) waits out token throttling; `clock` (default: system UTC)
    stamps reads and judges token expiry; `cache_timer` drives the display-cache TTL. The
    layer's limiter must know `settings.limit_key`: by kind (`kis_account`,
    `kis_paper_account`) it does by default; merge `settings.rate_limits()` into
    `ResilienceSettings.rate_limits` to apply
    `rate_limit_per_second`.
    """
    clock = clock or SystemClock()
    sleep = sleep or resilience.sleep
    resilient = resilience.client(UPSTREAM, http)
    tokens = KisTokens(settings, resilient, vault, clock=clock, sleep=sleep, source=UPSTREAM)
    client = KisClient(settings, resilient, tokens, source=UPSTREAM)
    ttl = resilience.settings.cache_ttl_seconds
    accounts = KisAccountSource(
        client,
        clock=clock,
        cash_cache=DisplayCache[CashBalance](
            ttl_seconds=ttl, clock=clock, timer=cache_timer, name="kis.cash"
        ),
        positions_cache=DisplayCache[tuple[Position, ...]](
            ttl_seconds=ttl, clock=clock, timer=cache_timer, name="kis.positions"
        ),
    )
    executor = KisOrderExecutor(client, clock=clock, on_change=accounts.invalidate)
    return Kis(
        client=client,
        tokens=tokens,
        accounts=accounts,
        executor=executor,
        market=KisMarketData(client, clock=clock),
    )
