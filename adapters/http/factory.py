"""Builds the shared upstream machinery once per process, and one client per upstream from it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from adapters.http.alerting import UpstreamAlerts
from adapters.http.breaker import CircuitBreakers
from adapters.http.client import ResilientClient
from adapters.http.limiter import KeyedRateLimiter, Sleep
from adapters.http.metrics import UpstreamMetrics
from adapters.http.retry import RetryPolicy
from adapters.http.settings import ResilienceSettings
from adapters.http.skew import SkewMonitor
from orchestrator.ports import Clock, Notifier


@dataclass(frozen=True, slots=True)
class Resilience:
    """Limiter budgets, breakers, metrics, skew and alerts shared by every upstream client.

    The status API reads `breakers.states()` and `skew.latest()`; `/metrics` serves
    `metrics.registry`.
    """

    settings: ResilienceSettings
    limiter: KeyedRateLimiter
    breakers: CircuitBreakers
    metrics: UpstreamMetrics
    skew: SkewMonitor
    alerts: UpstreamAlerts
    policy: RetryPolicy
    sleep: Sleep
    redis: Redis | None = None

    def client(self, upstream: str, http: httpx.AsyncClient) -> ResilientClient:
        """A client for one upstream (`kis`, `openbanking`) over the given httpx client."""
        return ResilientClient(
            upstream,
            http,
            limiter=self.limiter,
            breakers=self.breakers,
            metrics=self.metrics,
            skew=self.skew,
            alerts=self.alerts,
            policy=self.policy,
            sleep=self.sleep,
        )

    def status(self) -> dict[str, dict[str, str] | dict[str, float]]:
        """What the status API shows about upstreams: breaker states and clock skew."""
        return {"breakers": self.breakers.states(), "clock_skew_seconds": self.skew.latest()}

    async def aclose(self) -> None:
        """Let pending alerts go out, then close Redis connections."""
        await self.alerts.drain()
        await self.breakers.aclose()
        if self.redis is not None:
            await self.redis.aclose()


def build_resilience(
    settings: ResilienceSettings,
    *,
    notifier: Notifier | None = None,
    registry: CollectorRegistry | None = None,
    clock: Clock | None = None,
    sleep: Sleep = asyncio.sleep,
    limiter_timer: Callable[[], float] | None = None,
    key_prefix: str = "orchestrator",
) -> Resilience:
    """Wire the layer from settings. Redis is used for limiter and breakers iff `redis_url` is set.

    `notifier` should already de-duplicate (adapters.notify.DedupNotifier with
    `settings.alert_dedup_seconds`). `registry` defaults to prometheus_client's global one.
    """
    url = settings.redis_url.get_secret_value() if settings.redis_url else None
    redis = Redis.from_url(url) if url else None
    alerts = UpstreamAlerts(notifier)
    return Resilience(
        settings=settings,
        limiter=KeyedRateLimiter(
            settings.rate_limits,
            max_wait_seconds=settings.max_wait_seconds,
            guard_seconds=settings.rate_guard_seconds,
            redis=redis,
            key_prefix=f"{key_prefix}:ratelimit",
            timer=limiter_timer,
            sleep=sleep,
        ),
        breakers=CircuitBreakers(
            failure_threshold=settings.breaker_failure_threshold,
            recovery_seconds=settings.breaker_recovery_seconds,
            refresh_seconds=settings.breaker_refresh_seconds,
            redis_url=url,
            key_prefix=f"{key_prefix}:breaker",
            on_open=alerts.breaker_opened,
        ),
        metrics=UpstreamMetrics(registry),
        skew=SkewMonitor(warn_seconds=settings.skew_warn_seconds, clock=clock),
        alerts=alerts,
        policy=RetryPolicy.from_settings(settings),
        sleep=sleep,
        redis=redis,
    )
