"""Fakes for the resilience tests: a clock that only moves when told, a scripted upstream."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from redis.exceptions import RedisError

from adapters.fake import FakeClock, FakeNotifier
from adapters.http import Resilience, ResilienceSettings, ResilientClient, build_resilience
from tests.support.databases import IN_CI, REDIS_URL

Reply = httpx.Response | Exception


@dataclass
class ScriptedUpstream:
    """Answers with the queued replies in order (the last one repeats) and counts arrivals."""

    replies: Sequence[Reply] = (httpx.Response(200, json={}),)
    arrivals: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.arrivals.append(request)
        reply = self.replies[min(len(self.arrivals), len(self.replies)) - 1]
        if isinstance(reply, Exception):
            raise reply
        return reply


def no_error(response: httpx.Response) -> None:
    return None


@pytest.fixture
def fake_time() -> FakeClock:
    return FakeClock(datetime(2026, 11, 23, 3, 0, tzinfo=UTC))


@pytest.fixture
def upstream() -> ScriptedUpstream:
    return ScriptedUpstream()


@pytest.fixture
def notifier() -> FakeNotifier:
    return FakeNotifier()


@pytest.fixture
def settings() -> ResilienceSettings:
    return ResilienceSettings(backoff_jitter_seconds=0.0)


@pytest.fixture
async def http(upstream: ScriptedUpstream) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.MockTransport(upstream)
    async with httpx.AsyncClient(transport=transport, base_url="http://upstream.test") as client:
        yield client


@pytest.fixture
def make_resilience(fake_time: FakeClock, notifier: FakeNotifier) -> Callable[..., Resilience]:
    def make(settings: ResilienceSettings | None = None) -> Resilience:
        return build_resilience(
            settings or ResilienceSettings(backoff_jitter_seconds=0.0),
            notifier=notifier,
            registry=CollectorRegistry(),
            clock=fake_time,
            sleep=fake_time.sleep,
            limiter_timer=fake_time,
        )

    return make


@pytest.fixture
def resilience(
    make_resilience: Callable[..., Resilience], settings: ResilienceSettings
) -> Resilience:
    return make_resilience(settings)


@pytest.fixture
def client(resilience: Resilience, http: httpx.AsyncClient) -> ResilientClient:
    return resilience.client("vendor", http)


@pytest.fixture
async def redis_client() -> AsyncIterator[Redis]:
    """The test Redis (127.0.0.1:6379/15): skipped when absent, but a failure under CI=true."""
    client = Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        await client.ping()
    except (OSError, RedisError) as exc:
        await client.aclose()
        if IN_CI:
            pytest.fail(f"Redis at {REDIS_URL} is required in CI: {exc}")
        pytest.skip(f"Redis not reachable at {REDIS_URL} (not CI, so skipping)")
    yield client
    await client.aclose()
