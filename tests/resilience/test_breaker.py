from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
import pytest
import time_machine
from redis.asyncio import Redis
from structlog.testing import capture_logs

from adapters.fake import FakeNotifier
from adapters.http import CircuitBreakers, CircuitOpen, Resilience, ResilienceSettings
from orchestrator.domain.errors import (
    RateLimited,
    RequestRefused,
    SourceError,
    SourceUnavailable,
)
from tests.resilience.conftest import ScriptedUpstream, no_error
from tests.support.databases import REDIS_URL

THRESHOLD = 3
SETTINGS = ResilienceSettings(
    retry_attempts=1, breaker_failure_threshold=THRESHOLD, breaker_recovery_seconds=30
)


def refuse(response: httpx.Response) -> SourceError | None:
    return RequestRefused("vendor", "no such order", code="NO") if response.is_error else None


@pytest.fixture
def settings() -> ResilienceSettings:
    return SETTINGS


async def fail_times(resilience: Resilience, http: httpx.AsyncClient, n: int) -> None:
    client = resilience.client("vendor", http)
    for _ in range(n):
        with pytest.raises(SourceUnavailable):
            await client.call("GET", "/x", endpoint="x", translate=no_error)


async def test_opens_after_n_consecutive_failures_and_stops_sending(
    resilience: Resilience, http: httpx.AsyncClient, upstream: ScriptedUpstream
) -> None:
    """After 3 failures in a row the next call is refused locally, without reaching the upstream."""
    upstream.replies = [httpx.Response(503)]
    await fail_times(resilience, http, THRESHOLD)

    with pytest.raises(CircuitOpen) as caught:
        await resilience.client("vendor", http).call("GET", "/x", endpoint="x", translate=no_error)

    assert len(upstream.arrivals) == THRESHOLD
    assert caught.value.retry_after is not None
    assert 0 < caught.value.retry_after <= 30
    assert resilience.breakers.states() == {"vendor": "open"}


async def test_a_success_resets_the_consecutive_count(
    resilience: Resilience, http: httpx.AsyncClient, upstream: ScriptedUpstream
) -> None:
    """Failures only open the circuit when consecutive: a success in between starts over."""
    upstream.replies = [httpx.Response(503)] * 2 + [httpx.Response(200)] + [httpx.Response(503)]
    client = resilience.client("vendor", http)
    for _ in range(2):
        with pytest.raises(SourceUnavailable):
            await client.call("GET", "/x", endpoint="x", translate=no_error)
    await client.call("GET", "/x", endpoint="x", translate=no_error)

    await fail_times(resilience, http, 2)

    assert resilience.breakers.states() == {"vendor": "closed"}


async def test_half_open_probe_after_the_ttl_closes_the_circuit(
    resilience: Resilience, http: httpx.AsyncClient, upstream: ScriptedUpstream
) -> None:
    """Once the recovery time has passed one call goes through; its success closes the circuit."""
    upstream.replies = [httpx.Response(503)] * THRESHOLD + [httpx.Response(200)]
    client = resilience.client("vendor", http)
    with time_machine.travel(0, tick=False) as traveller:
        await fail_times(resilience, http, THRESHOLD)
        traveller.shift(29)
        with pytest.raises(CircuitOpen):
            await client.call("GET", "/x", endpoint="x", translate=no_error)
        traveller.shift(2)
        assert resilience.breakers.states() == {"vendor": "half_open"}

        await client.call("GET", "/x", endpoint="x", translate=no_error)

    assert resilience.breakers.states() == {"vendor": "closed"}
    assert len(upstream.arrivals) == THRESHOLD + 1


async def test_failed_probe_opens_the_circuit_again(
    resilience: Resilience, http: httpx.AsyncClient, upstream: ScriptedUpstream
) -> None:
    """A probe that fails re-opens the circuit at once, for another recovery period."""
    upstream.replies = [httpx.Response(503)]
    client = resilience.client("vendor", http)
    with time_machine.travel(0, tick=False) as traveller:
        await fail_times(resilience, http, THRESHOLD)
        traveller.shift(31)

        await fail_times(resilience, http, 1)

        with pytest.raises(CircuitOpen):
            await client.call("GET", "/x", endpoint="x", translate=no_error)
    assert len(upstream.arrivals) == THRESHOLD + 1


async def test_business_refusals_do_not_count_as_failures(
    resilience: Resilience, http: httpx.AsyncClient, upstream: ScriptedUpstream
) -> None:
    """Many 4xx business refusals leave the circuit closed: the upstream is answering."""
    upstream.replies = [httpx.Response(400)]
    client = resilience.client("vendor", http)
    for _ in range(THRESHOLD * 2):
        with pytest.raises(RequestRefused):
            await client.call("GET", "/x", endpoint="x", translate=refuse)

    assert resilience.breakers.states() == {"vendor": "closed"}
    assert len(upstream.arrivals) == THRESHOLD * 2


async def test_throttling_does_not_count_as_a_failure(
    resilience: Resilience, http: httpx.AsyncClient, upstream: ScriptedUpstream
) -> None:
    """429s are handled by backoff, not by cutting the upstream off."""
    upstream.replies = [httpx.Response(429)]
    client = resilience.client("vendor", http)
    for _ in range(THRESHOLD * 2):
        with pytest.raises(RateLimited):
            await client.call("GET", "/x", endpoint="x", translate=no_error)

    assert resilience.breakers.states() == {"vendor": "closed"}


async def test_circuits_per_endpoint_group_are_independent(
    resilience: Resilience, http: httpx.AsyncClient, upstream: ScriptedUpstream
) -> None:
    """An open circuit for one endpoint group leaves another group of the same upstream usable."""
    upstream.replies = [httpx.Response(503)] * THRESHOLD + [httpx.Response(200)]
    client = resilience.client("vendor", http)
    for _ in range(THRESHOLD):
        with pytest.raises(SourceUnavailable):
            await client.call("GET", "/q", endpoint="quote", translate=no_error, circuit="quotes")

    response = await client.call("GET", "/b", endpoint="balance", translate=no_error)

    assert response.status_code == 200
    assert resilience.breakers.states() == {"quotes": "open", "vendor": "closed"}


async def test_opening_logs_and_alerts(
    resilience: Resilience,
    http: httpx.AsyncClient,
    upstream: ScriptedUpstream,
    notifier: FakeNotifier,
) -> None:
    """An opening circuit logs upstream.breaker_opened and sends a critical alert."""
    upstream.replies = [httpx.Response(503)]

    with capture_logs() as logs:
        await fail_times(resilience, http, THRESHOLD)
        await resilience.alerts.drain()

    assert any(entry["event"] == "upstream.breaker_opened" for entry in logs)
    assert "upstream.vendor.breaker_open" in [alert.key for alert in notifier.sent]


@pytest.mark.redis
async def test_redis_state_is_shared_between_replicas(redis_client: Redis) -> None:
    """A circuit opened through one replica is open for another replica on the same Redis."""
    prefix = f"test-{uuid.uuid4().hex}"
    make: Callable[[], CircuitBreakers] = lambda: CircuitBreakers(  # noqa: E731
        failure_threshold=2,
        recovery_seconds=30,
        redis_url=REDIS_URL,
        key_prefix=prefix,
    )
    replica_a, replica_b = make(), make()
    try:
        for _ in range(2):
            with pytest.raises(SourceUnavailable):
                async with replica_a.guard("vendor", source="vendor"):
                    raise SourceUnavailable("vendor", "503")

        with pytest.raises(CircuitOpen):
            async with replica_b.guard("vendor", source="vendor"):
                pass

        assert replica_b.states() == {"vendor": "open"}
    finally:
        keys = [key async for key in redis_client.scan_iter(match=f"cbr::{prefix}:*")]
        if keys:
            await redis_client.delete(*keys)
        await replica_a.aclose()
        await replica_b.aclose()


@pytest.mark.redis
async def test_a_replica_sees_another_opening_within_the_refresh_interval(
    redis_client: Redis,
) -> None:
    """On Redis a replica re-reads a circuit at most once per refresh interval: a circuit that
    another replica opened lets calls through here until the interval has passed, then not."""
    prefix = f"test-{uuid.uuid4().hex}"
    now = [1000.0]

    def make() -> CircuitBreakers:
        return CircuitBreakers(
            failure_threshold=2,
            recovery_seconds=30,
            redis_url=REDIS_URL,
            key_prefix=prefix,
            refresh_seconds=1.0,
            timer=lambda: now[0],
        )

    replica_a, replica_b = make(), make()
    gets: list[str] = []
    try:
        async with replica_b.guard("vendor", source="vendor"):
            pass  # replica b has read the circuit: closed
        for _ in range(2):
            with pytest.raises(SourceUnavailable):
                async with replica_a.guard("vendor", source="vendor"):
                    raise SourceUnavailable("vendor", "503")
        repository = replica_b._factory.uow.contexts
        original = repository.get

        async def counted(name: str) -> object:
            gets.append(name)
            return await original(name)

        repository.get = counted  # type: ignore[method-assign]
        now[0] += 0.5
        async with replica_b.guard("vendor", source="vendor"):
            pass  # within the interval: the state read last (closed), no read of Redis
        reads_within = len(gets)
        now[0] += 0.6
        with pytest.raises(CircuitOpen):
            async with replica_b.guard("vendor", source="vendor"):
                pass

        assert reads_within == 0
        assert len(gets) == 1
        assert replica_b.states() == {"vendor": "open"}
    finally:
        keys = [key async for key in redis_client.scan_iter(match=f"cbr::{prefix}:*")]
        if keys:
            await redis_client.delete(*keys)
        await replica_a.aclose()
        await replica_b.aclose()
