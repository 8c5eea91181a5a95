"""Kiwoom REST adapter: OrderExecutor, AccountSource and MarketData for Kiwoom Securities.

`build_kiwoom(settings, resilience, vault, http)` wires one app key's adapters over the shared
resilient layer; `kiwoom_http_client(settings)` makes the httpx client for the real hosts. The
folder has the shape of every vendor folder: settings, endpoints, schemas, errors (the one
place vendor codes become domain errors), mapping, auth, client, account, executor, quotes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from adapters.http import DisplayCache, Resilience
from adapters.http.tokens import TokenVault
from adapters.kiwoom.account import KiwoomAccountSource
from adapters.kiwoom.auth import KiwoomTokens
from adapters.kiwoom.client import KiwoomClient
from adapters.kiwoom.executor import KiwoomOrderExecutor
from adapters.kiwoom.quotes import KiwoomMarketData
from adapters.kiwoom.settings import KiwoomSettings
from orchestrator.clock import SystemClock
from orchestrator.domain.model import CashBalance, Position
from orchestrator.ports import Clock

__all__ = [
    "Kiwoom",
    "KiwoomAccountSource",
    "KiwoomClient",
    "KiwoomMarketData",
    "KiwoomOrderExecutor",
    "KiwoomSettings",
    "KiwoomTokens",
    "TokenVault",
    "build_kiwoom",
    "kiwoom_http_client",
]

UPSTREAM = "kiwoom"


@dataclass(frozen=True, slots=True)
class Kiwoom:
    """The Kiwoom adapters of one app key, sharing one client, token holder and display cache."""

    client: KiwoomClient
    tokens: KiwoomTokens
    accounts: KiwoomAccountSource
    executor: KiwoomOrderExecutor
    market: KiwoomMarketData


def kiwoom_http_client(
    settings: KiwoomSettings, *, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=transport,
        timeout=settings.http_timeout(),
        follow_redirects=False,
        headers={"user-agent": "hybrid-broker-orchestrator/0.1 (httpx)"},
    )


def build_kiwoom(
    settings: KiwoomSettings,
    resilience: Resilience,
    vault: TokenVault,
    http: httpx.AsyncClient,
    *,
    clock: Clock | None = None,
    cache_timer: Callable[[], float] = time.monotonic,
    source: str = UPSTREAM,
) -> Kiwoom:
    """Wire the Kiwoom adapters. Merge `settings.rate_limits()` into
    `ResilienceSettings.rate_limits` so the limiter knows both budgets of the key."""
    clock = clock or SystemClock()
    resilient = resilience.client(source, http)
    tokens = KiwoomTokens(settings, resilient, vault, clock=clock, source=source)
    client = KiwoomClient(settings, resilient, tokens, source=source)
    ttl = resilience.settings.cache_ttl_seconds
    accounts = KiwoomAccountSource(
        client,
        clock=clock,
        cash_cache=DisplayCache[CashBalance](
            ttl_seconds=ttl, clock=clock, timer=cache_timer, name=f"{source}.cash"
        ),
        positions_cache=DisplayCache[tuple[Position, ...]](
            ttl_seconds=ttl, clock=clock, timer=cache_timer, name=f"{source}.positions"
        ),
    )
    executor = KiwoomOrderExecutor(client, clock=clock, on_change=accounts.invalidate)
    return Kiwoom(
        client=client,
        tokens=tokens,
        accounts=accounts,
        executor=executor,
        market=KiwoomMarketData(client, clock=clock),
    )
