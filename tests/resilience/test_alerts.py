from __future__ import annotations

import contextlib
import json

import httpx
import pytest
from structlog.testing import capture_logs

from adapters.fake import FakeClock, FakeNotifier
from adapters.http import ResilientClient
from adapters.http.alerting import UpstreamAlerts
from adapters.notify import DedupNotifier, LogNotifier, WebhookNotifier
from orchestrator.domain.alerts import Alert, Severity
from orchestrator.domain.errors import AuthError, RateLimited, SourceError, SourceUnavailable
from tests.resilience.conftest import ScriptedUpstream, no_error

ALERT = Alert(key="upstream.kis.auth", text="kis: token rejected", severity=Severity.CRITICAL)


async def test_dedup_sends_a_key_once_per_window(fake_time: FakeClock) -> None:
    """The same alert key goes out once per window; other keys and later windows go through."""
    inner = FakeNotifier()
    dedup = DedupNotifier(inner, window_seconds=300, timer=fake_time)
    other = Alert(key="upstream.kis.server_error", text="kis: 500")

    await dedup.notify(ALERT)
    fake_time.advance(299)
    with capture_logs() as logs:
        await dedup.notify(ALERT)
    await dedup.notify(other)
    fake_time.advance(2)
    await dedup.notify(ALERT)

    assert [alert.key for alert in inner.sent] == [ALERT.key, other.key, ALERT.key]
    assert [entry["event"] for entry in logs] == ["alert.suppressed"]


async def test_webhook_posts_json_with_a_slack_text() -> None:
    """The webhook receives a JSON POST whose `text` carries the severity and the message."""
    received: list[httpx.Request] = []

    def hook(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(200)

    async with httpx.AsyncClient(transport=httpx.MockTransport(hook)) as http:
        await WebhookNotifier("https://hooks.test/T0/B0/secret", http).notify(ALERT)

    body = json.loads(received[0].content)
    assert received[0].method == "POST"
    assert "kis: token rejected" in body["text"]
    assert "CRITICAL" in body["text"]
    assert body["alert"]["key"] == ALERT.key


@pytest.mark.parametrize(
    "reply", [httpx.Response(500), httpx.ConnectError("refused"), httpx.ReadTimeout("slow")]
)
async def test_webhook_failure_is_logged_never_raised(reply: httpx.Response | Exception) -> None:
    """A webhook that errors or is unreachable is logged; notify() returns normally."""

    def hook(request: httpx.Request) -> httpx.Response:
        if isinstance(reply, Exception):
            raise reply
        return reply

    async with httpx.AsyncClient(transport=httpx.MockTransport(hook)) as http:
        with capture_logs() as logs:
            await WebhookNotifier("https://hooks.test/T0/B0/secret", http).notify(ALERT)

    assert [entry["event"] for entry in logs] == ["alert.delivery_failed"]
    assert "secret" not in repr(logs)


async def test_log_notifier_logs_the_alert() -> None:
    """LogNotifier writes alert.sent with the key, severity and text."""
    with capture_logs() as logs:
        await LogNotifier().notify(ALERT)

    assert logs[0]["event"] == "alert.sent"
    assert (logs[0]["alert_key"], logs[0]["log_level"]) == (ALERT.key, "critical")


@pytest.mark.parametrize(
    ("reply", "key"),
    [
        (httpx.Response(401), "upstream.vendor.auth"),
        (httpx.Response(403), "upstream.vendor.auth"),
        (httpx.Response(429), "upstream.vendor.throttled"),
        (httpx.Response(502), "upstream.vendor.server_error"),
    ],
)
async def test_client_alerts_on_auth_throttling_and_server_errors(
    client: ResilientClient,
    upstream: ScriptedUpstream,
    notifier: FakeNotifier,
    reply: httpx.Response,
    key: str,
) -> None:
    """Upstream 401/403, 429 and 5xx replies each raise an operator alert of their kind."""
    upstream.replies = [reply, httpx.Response(200)]

    with contextlib.suppress(SourceError):
        await client.call("GET", "/x", endpoint="balance", translate=no_error)
    await client._alerts.drain()

    assert key in {alert.key for alert in notifier.sent}


async def test_vendor_mapped_errors_alert_by_their_domain_type(notifier: FakeNotifier) -> None:
    """A 200 envelope the vendor map calls AuthError or RateLimited alerts like 401 or 429."""
    alerts = UpstreamAlerts(notifier)

    alerts.reply("kis", "balance", 200, AuthError("kis", "expired", code="EGW00123"))
    alerts.reply("kis", "order", 500, RateLimited("kis", "tps", code="EGW00201"))
    alerts.reply("kis", "balance", 200, SourceUnavailable("kis", "busy"))
    await alerts.drain()

    assert [alert.key for alert in notifier.sent] == [
        "upstream.kis.auth",
        "upstream.kis.throttled",
    ]
    assert notifier.sent[0].detail["code"] == "EGW00123"


async def test_successful_calls_raise_no_alert(
    client: ResilientClient, notifier: FakeNotifier
) -> None:
    """A healthy reply sends nothing."""
    await client.call("GET", "/x", endpoint="balance", translate=no_error)
    await client._alerts.drain()

    assert notifier.sent == []
