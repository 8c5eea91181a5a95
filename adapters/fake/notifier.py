"""An in-memory Notifier: keeps what it delivered."""

from __future__ import annotations

import structlog

from orchestrator.domain.alerts import Alert

log = structlog.get_logger(__name__)


class FakeNotifier:
    """Appends each alert to `sent`. After `fail_next()`, the next delivery is lost: it is logged
    and kept in `failed`, never raised (a Notifier must not raise)."""

    def __init__(self) -> None:
        self.sent: list[Alert] = []
        self.failed: list[Alert] = []
        self._fail = 0

    def fail_next(self, times: int = 1) -> None:
        self._fail += times

    async def notify(self, alert: Alert) -> None:
        if self._fail:
            self._fail -= 1
            self.failed.append(alert)
            log.warning("notify.delivery_failed", key=alert.key, notifier="fake")
            return
        self.sent.append(alert)
