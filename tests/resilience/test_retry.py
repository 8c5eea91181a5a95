from __future__ import annotations

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.fake import FakeClock
from adapters.http import ResilientClient, RetryPolicy
from adapters.http.retry import parse_retry_after
from orchestrator.domain.errors import (
    AuthError,
    OrderOutcomeUnknown,
    OutcomeUnknown,
    RateLimited,
    RequestRefused,
    SourceError,
    SourceUnavailable,
)
from tests.resilience.conftest import ScriptedUpstream, no_error


def gateway_codes(response: httpx.Response) -> SourceError | None:
    """A vendor map in miniature: the code in the body decides, not the HTTP status."""
    code = response.json().get("code") if response.content else None
    if code == "THROTTLED":
        return RateLimited("vendor", "too many calls", code=code)
    if code == "BUSY":
        return SourceUnavailable("vendor", "try later", code=code)
    if code == "NO":
        return RequestRefused("vendor", "refused", code=code)
    return None


def test_backoff_doubles_from_one_second_and_caps_at_thirty() -> None:
    """Without jitter the waits are 1, 2, 4, 8, 16, then 30 s for ever."""
    policy = RetryPolicy(attempts=10, jitter_seconds=0.0)

    assert [policy.backoff(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 30, 30, 30]


@given(attempt=st.integers(min_value=1, max_value=200), draw=st.floats(0.0, 0.999999))
def test_jitter_stays_within_its_bounds_and_under_the_cap(attempt: int, draw: float) -> None:
    """Jitter adds between 0 and jitter_seconds to the base wait, never beyond the 30 s cap."""
    policy = RetryPolicy(attempts=10, jitter_seconds=1.0, random=lambda: draw)
    base = min(30.0, 2.0 ** min(attempt - 1, 64))

    wait = policy.backoff(attempt)

    assert base <= wait <= min(30.0, base + 1.0)


def test_retry_after_is_honoured_and_capped() -> None:
    """A server's Retry-After sets the wait, but never above the 30 s cap."""
    policy = RetryPolicy()

    short = policy.delay(1, SourceUnavailable("v", "busy", retry_after=7), write=False)
    long = policy.delay(1, SourceUnavailable("v", "busy", retry_after=3600), write=False)

    assert (short, long) == (7.0, 30.0)


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    """Retry-After as delta-seconds, or as an HTTP-date measured against the reply's Date."""
    date = "Mon, 23 Nov 2026 03:00:00 GMT"

    assert parse_retry_after("12", date) == 12.0
    assert parse_retry_after("Mon, 23 Nov 2026 03:00:20 GMT", date) == 20.0
    assert parse_retry_after("soon", date) is None
    assert parse_retry_after(None) is None


async def test_read_is_retried_with_backoff_until_it_succeeds(
    client: ResilientClient, upstream: ScriptedUpstream, fake_time: FakeClock
) -> None:
    """A read answered 503, 503, 200 is sent three times, waiting 1 s then 2 s."""
    upstream.replies = [httpx.Response(503), httpx.Response(503), httpx.Response(200)]

    response = await client.call("GET", "/balance", endpoint="balance", translate=no_error)

    assert response.status_code == 200
    assert len(upstream.arrivals) == 3
    assert fake_time.sleeps == [1.0, 2.0]


async def test_read_retries_are_bounded(
    client: ResilientClient, upstream: ScriptedUpstream, fake_time: FakeClock
) -> None:
    """An upstream that keeps failing is tried 5 times (retry_attempts), then the error surfaces."""
    upstream.replies = [httpx.Response(503)]

    with pytest.raises(SourceUnavailable):
        await client.call("GET", "/balance", endpoint="balance", translate=no_error)

    assert len(upstream.arrivals) == 5
    assert fake_time.sleeps == [1.0, 2.0, 4.0, 8.0]


async def test_read_honours_a_capped_retry_after_header(
    client: ResilientClient, upstream: ScriptedUpstream, fake_time: FakeClock
) -> None:
    """A 503 with Retry-After: 120 waits 30 s (the cap), not 120 s and not the 1 s backoff."""
    upstream.replies = [httpx.Response(503, headers={"Retry-After": "120"}), httpx.Response(200)]

    await client.call("GET", "/balance", endpoint="balance", translate=no_error)

    assert fake_time.sleeps == [30.0]


async def test_read_is_not_retried_on_a_business_refusal(
    client: ResilientClient, upstream: ScriptedUpstream, fake_time: FakeClock
) -> None:
    """An error the vendor map marks not retryable reaches the caller after one send."""
    upstream.replies = [httpx.Response(200, json={"code": "NO"})]

    with pytest.raises(RequestRefused):
        await client.call("GET", "/balance", endpoint="balance", translate=gateway_codes)

    assert len(upstream.arrivals) == 1
    assert fake_time.sleeps == []


async def test_read_retry_follows_the_vendor_code_not_the_status(
    client: ResilientClient, upstream: ScriptedUpstream
) -> None:
    """A 200 whose body says BUSY (retryable per the vendor map) is sent again."""
    upstream.replies = [httpx.Response(200, json={"code": "BUSY"}), httpx.Response(200, json={})]

    await client.call("GET", "/balance", endpoint="balance", translate=gateway_codes)

    assert len(upstream.arrivals) == 2


async def test_auth_failure_is_not_retried(
    client: ResilientClient, upstream: ScriptedUpstream
) -> None:
    """A 401 is an AuthError: renewing the token is the fix, so it is sent once."""
    upstream.replies = [httpx.Response(401)]

    with pytest.raises(AuthError):
        await client.call("GET", "/balance", endpoint="balance", translate=no_error)

    assert len(upstream.arrivals) == 1


async def test_write_answered_5xx_is_sent_once_and_outcome_unknown(
    client: ResilientClient, upstream: ScriptedUpstream, fake_time: FakeClock
) -> None:
    """An order answered 500 (not a pre-acceptance refusal) is never resent: outcome unknown."""
    upstream.replies = [httpx.Response(500, json={"code": "BUSY"}), httpx.Response(200)]

    with pytest.raises(OrderOutcomeUnknown):
        await client.call(
            "POST",
            "/order",
            endpoint="order",
            translate=gateway_codes,
            write=True,
            unknown_error=OrderOutcomeUnknown,
        )

    assert len(upstream.arrivals) == 1
    assert fake_time.sleeps == []


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("timed out"),
        httpx.ReadError("reset"),
        httpx.RemoteProtocolError("closed"),
        httpx.WriteError("broken pipe"),
    ],
)
async def test_write_whose_reply_was_lost_is_sent_once_and_outcome_unknown(
    client: ResilientClient, upstream: ScriptedUpstream, failure: Exception
) -> None:
    """A transport failure after a write may have left the host: one send, outcome unknown."""
    upstream.replies = [failure, httpx.Response(200)]

    with pytest.raises(OutcomeUnknown):
        await client.call("POST", "/transfer", endpoint="transfer", translate=no_error, write=True)

    assert len(upstream.arrivals) == 1


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError("refused"), httpx.ConnectTimeout("slow"), httpx.PoolTimeout("full")],
)
async def test_write_that_never_left_is_unavailable_and_not_resent(
    client: ResilientClient, upstream: ScriptedUpstream, failure: Exception
) -> None:
    """A connection that never opened means nothing was sent: SourceUnavailable, still one try."""
    upstream.replies = [failure, httpx.Response(200)]

    with pytest.raises(SourceUnavailable) as caught:
        await client.call("POST", "/order", endpoint="order", translate=no_error, write=True)

    assert not isinstance(caught.value, OutcomeUnknown)
    assert len(upstream.arrivals) == 1


async def test_write_refused_as_rate_limited_is_sent_again_after_backoff(
    client: ResilientClient, upstream: ScriptedUpstream, fake_time: FakeClock
) -> None:
    """An order the gateway refused before acceptance (throttled, HTTP 500) is resent and lands."""
    upstream.replies = [httpx.Response(500, json={"code": "THROTTLED"}), httpx.Response(200)]

    response = await client.call(
        "POST", "/order", endpoint="order", translate=gateway_codes, write=True
    )

    assert response.status_code == 200
    assert len(upstream.arrivals) == 2
    assert fake_time.sleeps == [1.0]


async def test_read_timeout_on_a_read_is_retried(
    client: ResilientClient, upstream: ScriptedUpstream
) -> None:
    """For a read, a lost reply is just unavailable: it is sent again."""
    upstream.replies = [httpx.ReadTimeout("timed out"), httpx.Response(200)]

    response = await client.call("GET", "/balance", endpoint="balance", translate=no_error)

    assert response.status_code == 200
    assert len(upstream.arrivals) == 2


def json_envelope(response: httpx.Response) -> SourceError | None:
    """A vendor map that expects JSON, as every real one does."""
    return gateway_codes(response) if response.json() else None


async def test_proxy_error_page_is_judged_by_status(
    client: ResilientClient, upstream: ScriptedUpstream
) -> None:
    """An HTML 502 from a proxy that the vendor map cannot parse is unavailable, and retried."""
    upstream.replies = [
        httpx.Response(502, text="<html>Bad Gateway</html>"),
        httpx.Response(200, json={}),
    ]

    response = await client.call("GET", "/balance", endpoint="balance", translate=json_envelope)

    assert response.status_code == 200
    assert len(upstream.arrivals) == 2
