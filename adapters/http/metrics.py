"""Prometheus counters and latency histograms per upstream, endpoint and outcome."""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

from orchestrator.domain.errors import (
    AccountUnknown,
    AuthError,
    OutcomeUnknown,
    RateLimited,
    RequestRefused,
    SourceError,
    SourceUnavailable,
)

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

# Most specific first; a bounded label set whatever subclasses vendors add.
_OUTCOMES: tuple[tuple[type[SourceError], str], ...] = (
    (RateLimited, "rate_limited"),
    (SourceUnavailable, "unavailable"),
    (AuthError, "auth"),
    (RequestRefused, "refused"),
    (AccountUnknown, "account_unknown"),
    (OutcomeUnknown, "outcome_unknown"),
)


def outcome_of(error: SourceError | None) -> str:
    """The `outcome` label for an attempt's result."""
    if error is None:
        return "ok"
    for kind, label in _OUTCOMES:
        if isinstance(error, kind):
            return label
    return "error"


class UpstreamMetrics:
    """Counts every attempt (retries included) and times it; pass a registry per test."""

    def __init__(
        self, registry: CollectorRegistry | None = None, *, namespace: str = "orchestrator"
    ) -> None:
        self.registry = registry if registry is not None else REGISTRY
        labels = ("upstream", "endpoint", "outcome")
        self._requests = Counter(
            "upstream_requests",
            "Upstream HTTP attempts by outcome.",
            labels,
            namespace=namespace,
            registry=self.registry,
        )
        self._latency = Histogram(
            "upstream_request_duration_seconds",
            "Time from sending an upstream request to its reply or failure.",
            labels,
            namespace=namespace,
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self._retries = Counter(
            "upstream_retries",
            "Upstream requests scheduled to be sent again.",
            ("upstream", "endpoint"),
            namespace=namespace,
            registry=self.registry,
        )
        # Label lookups take a lock and build tuples; keep the children per label set.
        self._children: dict[tuple[str, str, str], tuple[Counter, Histogram]] = {}

    def observe(self, upstream: str, endpoint: str, outcome: str, seconds: float) -> None:
        """Record one attempt."""
        key = (upstream, endpoint, outcome)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self._requests.labels(*key),
                self._latency.labels(*key),
            )
        children[0].inc()
        children[1].observe(seconds)

    def retried(self, upstream: str, endpoint: str) -> None:
        """Record that a request is scheduled to be sent again."""
        self._retries.labels(upstream, endpoint).inc()
