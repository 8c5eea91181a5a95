"""The resilient upstream layer shared by the vendor adapters (KIS, open banking).

Vendor adapters call `ResilientClient.call(..., translate=...)` and keep vendor codes to
themselves; display reads go through a `DisplayCache`. `build_resilience` wires it all from
`ResilienceSettings`.
"""

from __future__ import annotations

from adapters.http.alerting import UpstreamAlerts
from adapters.http.breaker import CircuitBreakers, CircuitOpen
from adapters.http.cache import Cached, DisplayCache
from adapters.http.client import ResilientClient, Translate
from adapters.http.factory import Resilience, build_resilience
from adapters.http.limiter import KeyedRateLimiter
from adapters.http.metrics import UpstreamMetrics
from adapters.http.retry import RetryPolicy
from adapters.http.settings import RateSpec, ResilienceSettings
from adapters.http.skew import SkewMonitor
from adapters.http.transport import InProcessTransport

__all__ = [
    "Cached",
    "CircuitBreakers",
    "CircuitOpen",
    "DisplayCache",
    "InProcessTransport",
    "KeyedRateLimiter",
    "RateSpec",
    "Resilience",
    "ResilienceSettings",
    "ResilientClient",
    "RetryPolicy",
    "SkewMonitor",
    "Translate",
    "UpstreamAlerts",
    "UpstreamMetrics",
    "build_resilience",
]
