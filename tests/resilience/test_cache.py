from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from adapters.fake import FakeClock
from adapters.http import DisplayCache, Resilience, ResilienceSettings
from orchestrator.domain.errors import SourceUnavailable
from tests.resilience.conftest import ScriptedUpstream, no_error


class Loader:
    """Counts upstream loads; returns 1, 2, 3, ... or raises what it is told to."""

    def __init__(self) -> None:
        self.calls = 0
        self.failure: Exception | None = None
        self.gate: asyncio.Event | None = None

    async def __call__(self) -> int:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.failure is not None:
            raise self.failure
        return self.calls


@pytest.fixture
def cache(fake_time: FakeClock) -> DisplayCache[int]:
    return DisplayCache(ttl_seconds=45, clock=fake_time, timer=fake_time)


async def test_fifty_concurrent_reads_make_one_upstream_call(cache: DisplayCache[int]) -> None:
    """Concurrent misses for one key share a single load (single flight)."""
    loader = Loader()
    loader.gate = asyncio.Event()
    reads = [asyncio.create_task(cache.get("acct", loader)) for _ in range(50)]
    await asyncio.sleep(0)

    loader.gate.set()
    results = await asyncio.gather(*reads)

    assert loader.calls == 1
    assert {result.value for result in results} == {1}


async def test_value_is_served_until_the_ttl_then_reloaded(
    cache: DisplayCache[int], fake_time: FakeClock
) -> None:
    """Within 45 s the cached value is served; after it, the next read loads again."""
    loader = Loader()
    await cache.get("acct", loader)

    fake_time.advance(44)
    still = await cache.get("acct", loader)
    fake_time.advance(2)
    reloaded = await cache.get("acct", loader)

    assert (still.value, reloaded.value, loader.calls) == (1, 2, 2)
    assert reloaded.as_of > still.as_of
    assert not reloaded.stale


async def test_fresh_bypasses_the_cache_and_refreshes_it(cache: DisplayCache[int]) -> None:
    """fresh=True always loads, and later display reads see the value it loaded."""
    loader = Loader()
    await cache.get("acct", loader)

    fresh = await cache.get("acct", loader, fresh=True)
    display = await cache.get("acct", loader)

    assert (fresh.value, display.value, loader.calls) == (2, 2, 2)


async def test_failed_display_read_serves_the_last_value_marked_stale(
    cache: DisplayCache[int], fake_time: FakeClock
) -> None:
    """When the upstream is unavailable, the last value comes back stale with its own as_of."""
    loader = Loader()
    first = await cache.get("acct", loader)
    fake_time.advance(60)
    loader.failure = SourceUnavailable("vendor", "down")

    stale = await cache.get("acct", loader)

    assert stale.stale
    assert stale.value == 1
    assert stale.as_of == first.as_of


async def test_failed_display_read_with_nothing_cached_raises(cache: DisplayCache[int]) -> None:
    """No earlier value: SourceUnavailable reaches the caller."""
    loader = Loader()
    loader.failure = SourceUnavailable("vendor", "down")

    with pytest.raises(SourceUnavailable):
        await cache.get("acct", loader)


async def test_fresh_read_never_falls_back_to_stale(
    cache: DisplayCache[int], fake_time: FakeClock
) -> None:
    """Reconciliation's fresh read must fail rather than get an old value."""
    loader = Loader()
    await cache.get("acct", loader)
    loader.failure = SourceUnavailable("vendor", "down")

    with pytest.raises(SourceUnavailable):
        await cache.get("acct", loader, fresh=True)


async def test_open_breaker_display_read_returns_stale_value(
    make_resilience: Callable[..., Resilience],
    http: httpx.AsyncClient,
    upstream: ScriptedUpstream,
    fake_time: FakeClock,
) -> None:
    """With the breaker open, a display read through the client gets the cached value, stale."""
    resilience = make_resilience(ResilienceSettings(retry_attempts=1, breaker_failure_threshold=1))
    client = resilience.client("vendor", http)
    cache: DisplayCache[int] = DisplayCache(ttl_seconds=30, clock=fake_time, timer=fake_time)

    async def balance() -> int:
        response = await client.call("GET", "/balance", endpoint="balance", translate=no_error)
        return int(response.json()["cash"])

    upstream.replies = [httpx.Response(200, json={"cash": 100}), httpx.Response(503)]
    first = await cache.get("acct", balance)
    fake_time.advance(31)
    with pytest.raises(SourceUnavailable):
        await cache.get("acct", balance, fresh=True)  # opens the breaker

    during_outage = await cache.get("acct", balance)

    assert resilience.breakers.states() == {"vendor": "open"}
    assert (during_outage.value, during_outage.stale) == (100, True)
    assert during_outage.as_of == first.as_of
    assert len(upstream.arrivals) == 2
