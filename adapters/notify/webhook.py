"""Alerts POSTed as JSON to a webhook (Slack-compatible: the message is in `text`)."""

from __future__ import annotations

import httpx
import structlog
from pydantic import SecretStr

from orchestrator.domain.alerts import Alert

log = structlog.get_logger(__name__)

_ICONS = {"info": "ℹ️", "warning": "⚠️", "critical": "🚨"}


class WebhookNotifier:
    """POSTs `{"text": ..., "alert": {...}}` to `url`. Never raises: a failed delivery is logged.

    The URL usually embeds a token (Slack incoming webhooks do), so it is never logged.
    """

    def __init__(
        self, url: str | SecretStr, http: httpx.AsyncClient, *, timeout_seconds: float = 5.0
    ) -> None:
        self._url = url.get_secret_value() if isinstance(url, SecretStr) else url
        self._http = http
        self._timeout = timeout_seconds

    async def notify(self, alert: Alert) -> None:
        severity = str(alert.severity)
        body = {
            "text": f"{_ICONS.get(severity, '')} [{severity.upper()}] {alert.text}".strip(),
            "alert": {"key": alert.key, "severity": severity, "detail": dict(alert.detail)},
        }
        try:
            response = await self._http.post(self._url, json=body, timeout=self._timeout)
        # The Notifier port must not raise: whatever goes wrong here is logged, not propagated.
        except Exception as exc:
            log.error("alert.delivery_failed", alert_key=alert.key, error=type(exc).__name__)
            return
        if response.is_success:
            log.info("alert.sent", channel="webhook", alert_key=alert.key)
        else:
            log.error("alert.delivery_failed", alert_key=alert.key, status=response.status_code)
