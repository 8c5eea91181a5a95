from __future__ import annotations

import httpx
import pytest

from adapters.http import Resilience, ResilientClient
from orchestrator.domain.errors import SourceUnavailable
from tests.resilience.conftest import ScriptedUpstream, no_error


def sample(resilience: Resilience, name: str, **labels: str) -> float:
    value = resilience.metrics.registry.get_sample_value(name, labels)
    return value or 0.0


async def test_attempts_are_counted_and_timed_by_outcome(
    resilience: Resilience, client: ResilientClient, upstream: ScriptedUpstream
) -> None:
    """A call that fails once and then succeeds counts one unavailable and one ok attempt."""
    upstream.replies = [httpx.Response(503), httpx.Response(200)]

    await client.call("GET", "/x", endpoint="balance", translate=no_error)

    labels = {"upstream": "vendor", "endpoint": "balance"}
    assert sample(resilience, "orchestrator_upstream_requests_total", outcome="ok", **labels) == 1
    assert (
        sample(resilience, "orchestrator_upstream_requests_total", outcome="unavailable", **labels)
        == 1
    )
    assert sample(resilience, "orchestrator_upstream_retries_total", **labels) == 1
    assert (
        sample(
            resilience,
            "orchestrator_upstream_request_duration_seconds_count",
            outcome="ok",
            **labels,
        )
        == 1
    )


async def test_transport_failures_are_counted(
    resilience: Resilience, client: ResilientClient, upstream: ScriptedUpstream
) -> None:
    """Attempts that never got a reply are counted as unavailable too."""
    upstream.replies = [httpx.ConnectError("refused")]

    with pytest.raises(SourceUnavailable):
        await client.call("GET", "/x", endpoint="balance", translate=no_error)

    assert (
        sample(
            resilience,
            "orchestrator_upstream_requests_total",
            upstream="vendor",
            endpoint="balance",
            outcome="unavailable",
        )
        == 5
    )
