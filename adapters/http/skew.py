"""Compares each upstream's Date header with our clock; order timestamps and tokens depend on it."""

from __future__ import annotations

from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

import structlog

from orchestrator.clock import SystemClock
from orchestrator.ports import Clock

log = structlog.get_logger(__name__)

# A Date header is truncated to the whole second: the upstream's clock read somewhere in
# [Date, Date + 1 s). Measuring from the middle halves the worst-case error.
_HALF_SECOND = timedelta(seconds=0.5)


class SkewMonitor:
    """Keeps the latest skew per upstream (upstream clock minus ours, in seconds).

    Logs `upstream.clock_skew` (warning) when an upstream drifts beyond `warn_seconds` either way,
    and `upstream.clock_skew_recovered` when it comes back; not on every response.
    """

    def __init__(self, *, warn_seconds: float = 2.0, clock: Clock | None = None) -> None:
        self._warn = warn_seconds
        self._clock: Clock = clock or SystemClock()
        self._latest: dict[str, float] = {}
        self._last_date: dict[str, str] = {}
        self._skewed: set[str] = set()

    def observe(self, upstream: str, date_header: str | None) -> float | None:
        """Record the skew shown by one response's Date header; None if it has no usable one."""
        if not date_header:
            return None
        if self._last_date.get(upstream) == date_header:
            # Same one-second Date as the last reply: nothing new to learn about the skew.
            return self._latest.get(upstream)
        upstream_time = _parse(date_header)
        if upstream_time is None:
            return None
        self._last_date[upstream] = date_header
        skew = (upstream_time + _HALF_SECOND - self._clock.now()).total_seconds()
        self._latest[upstream] = skew
        if abs(skew) > self._warn:
            if upstream not in self._skewed:
                self._skewed.add(upstream)
                log.warning(
                    "upstream.clock_skew",
                    upstream=upstream,
                    skew_seconds=round(skew, 3),
                    threshold_seconds=self._warn,
                )
        elif upstream in self._skewed:
            self._skewed.discard(upstream)
            log.info(
                "upstream.clock_skew_recovered", upstream=upstream, skew_seconds=round(skew, 3)
            )
        return skew

    def latest(self) -> dict[str, float]:
        """The most recent skew per upstream, in seconds (positive: the upstream is ahead)."""
        return dict(self._latest)


def _parse(header: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo is not None else None
