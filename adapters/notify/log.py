"""Alerts written to the structured log: the default channel, and the fallback for every other."""

from __future__ import annotations

import structlog

from orchestrator.domain.alerts import Alert, Severity

log = structlog.get_logger(__name__)


class LogNotifier:
    """Logs each alert as `alert.sent` at a level matching its severity. Never raises."""

    async def notify(self, alert: Alert) -> None:
        emit = {
            Severity.INFO: log.info,
            Severity.WARNING: log.warning,
            Severity.CRITICAL: log.critical,
        }.get(alert.severity, log.warning)
        emit(
            "alert.sent",
            channel="log",
            alert_key=alert.key,
            severity=str(alert.severity),
            text=alert.text,
            detail=dict(alert.detail),
        )
