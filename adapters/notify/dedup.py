"""Keeps a repeating condition from flooding operators: one alert per key per window."""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

from orchestrator.domain.alerts import Alert
from orchestrator.ports import Notifier

log = structlog.get_logger(__name__)


class DedupNotifier:
    """Passes an alert on unless one with the same key went out less than `window_seconds` ago.

    Suppressed alerts are logged (`alert.suppressed`, debug). Per process: replicas may each send
    one. `timer` is monotonic seconds (inject a fake in tests).
    """

    def __init__(
        self,
        inner: Notifier,
        *,
        window_seconds: float = 300.0,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inner = inner
        self._window = window_seconds
        self._timer = timer
        self._sent_at: dict[str, float] = {}

    async def notify(self, alert: Alert) -> None:
        now = self._timer()
        last = self._sent_at.get(alert.key)
        if last is not None and now - last < self._window:
            log.debug("alert.suppressed", alert_key=alert.key, seconds_since=round(now - last, 1))
            return
        # Marked before the await: concurrent duplicates are suppressed while this one is sent.
        self._sent_at[alert.key] = now
        self._forget_older_than(now - self._window)
        await self._inner.notify(alert)

    def _forget_older_than(self, cutoff: float) -> None:
        if len(self._sent_at) > 256:
            self._sent_at = {key: at for key, at in self._sent_at.items() if at >= cutoff}
