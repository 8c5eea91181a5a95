from __future__ import annotations

from datetime import timedelta
from email.utils import format_datetime

import httpx
from structlog.testing import capture_logs

from adapters.fake import FakeClock
from adapters.http import ResilientClient, SkewMonitor
from tests.resilience.conftest import ScriptedUpstream, no_error


def date_header(fake_time: FakeClock, offset_seconds: float) -> str:
    return format_datetime(fake_time.now() + timedelta(seconds=offset_seconds), usegmt=True)


def test_skew_beyond_threshold_logs_a_warning_once(fake_time: FakeClock) -> None:
    """An upstream 5 s ahead logs upstream.clock_skew once, not on every response."""
    monitor = SkewMonitor(warn_seconds=2.0, clock=fake_time)

    with capture_logs() as logs:
        skew = monitor.observe("kis", date_header(fake_time, 5))
        monitor.observe("kis", date_header(fake_time, 5))

    assert skew is not None
    assert 4.5 <= skew <= 5.5
    assert [entry["event"] for entry in logs] == ["upstream.clock_skew"]
    assert logs[0]["log_level"] == "warning"


def test_skew_within_threshold_is_recorded_silently(fake_time: FakeClock) -> None:
    """A second of skew is within the 2 s threshold: recorded, not logged."""
    monitor = SkewMonitor(warn_seconds=2.0, clock=fake_time)

    with capture_logs() as logs:
        monitor.observe("openbanking", date_header(fake_time, -1))

    assert logs == []
    assert -1.5 <= monitor.latest()["openbanking"] <= -0.5


def test_recovery_is_logged_after_a_warning(fake_time: FakeClock) -> None:
    """When a skewed upstream comes back within the threshold, that is logged too."""
    monitor = SkewMonitor(warn_seconds=2.0, clock=fake_time)

    with capture_logs() as logs:
        monitor.observe("kis", date_header(fake_time, -10))
        monitor.observe("kis", date_header(fake_time, 0))

    assert [entry["event"] for entry in logs] == [
        "upstream.clock_skew",
        "upstream.clock_skew_recovered",
    ]


def test_missing_or_garbled_date_is_ignored(fake_time: FakeClock) -> None:
    """No Date header, or an unparsable one, records nothing."""
    monitor = SkewMonitor(clock=fake_time)

    assert monitor.observe("kis", None) is None
    assert monitor.observe("kis", "yesterday-ish") is None
    assert monitor.latest() == {}


async def test_client_checks_the_date_of_every_reply(
    client: ResilientClient, upstream: ScriptedUpstream, fake_time: FakeClock
) -> None:
    """Replies through the client feed the skew monitor; the status view shows it."""
    upstream.replies = [httpx.Response(200, headers={"Date": date_header(fake_time, 30)})]

    with capture_logs() as logs:
        await client.call("GET", "/x", endpoint="balance", translate=no_error)

    assert "upstream.clock_skew" in [entry["event"] for entry in logs]
    assert 29 <= client._skew.latest()["vendor"] <= 31
