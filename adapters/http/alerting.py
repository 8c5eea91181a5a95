"""Operator alerts from upstream trouble: auth failures, throttling, 5xx, open breakers."""

from __future__ import annotations

import asyncio

from orchestrator.domain.alerts import Alert, Severity
from orchestrator.domain.errors import (
    AuthError,
    ConsentRequired,
    RateLimited,
    SourceError,
    TokenExpired,
)
from orchestrator.ports import Notifier


def classify(
    upstream: str, endpoint: str, status: int | None, error: SourceError | None
) -> Alert | None:
    """The alert a reply deserves, if any. `status` is None when no reply came back."""
    # The vendor's code decides before the HTTP status: KIS throttles token issuance with a 403.
    if isinstance(error, ConsentRequired):
        # One investor's consent ended (revoked or expired at the relay): not the client's
        # credentials. Its owner reports it once (reconciliation's stale_source break), where
        # every call of a thousand investors would otherwise page as "authentication failed".
        return None
    if status == 429 or isinstance(error, RateLimited):
        kind, severity, what = "throttled", Severity.WARNING, "throttled us"
    elif isinstance(error, TokenExpired):
        # Renewed by the adapter: worth a line, not a page (a failed renewal alerts as auth).
        kind, severity, what = "token_renewed", Severity.WARNING, "rejected an expired token"
    elif (status is not None and status in (401, 403)) or isinstance(error, AuthError):
        kind, severity, what = "auth", Severity.CRITICAL, "authentication failed"
    elif status is not None and status >= 500:
        kind, severity, what = "server_error", Severity.WARNING, "answered with a server error"
    else:
        return None
    code = error.code if error is not None and error.code else ""
    detail = {"upstream": upstream, "endpoint": endpoint, "status": str(status), "code": code}
    suffix = f" (HTTP {status}{', ' + code if code else ''})"
    return Alert(
        key=f"upstream.{upstream}.{kind}",
        text=f"{upstream}: {endpoint} {what}{suffix}",
        severity=severity,
        detail=detail,
    )


class UpstreamAlerts:
    """Sends alerts in the background so a slow webhook never delays an upstream call.

    The notifier should de-duplicate (adapters.notify.DedupNotifier): a failing upstream raises
    the same alert on every call. `drain()` waits for alerts still being sent (tests, shutdown).
    """

    def __init__(self, notifier: Notifier | None) -> None:
        self._notifier = notifier
        self._sending: set[asyncio.Task[None]] = set()

    def reply(
        self, upstream: str, endpoint: str, status: int | None, error: SourceError | None
    ) -> None:
        """Alert on one upstream reply if it shows auth trouble, throttling or a server error."""
        if self._notifier is None or (error is None and (status is None or status < 400)):
            return
        alert = classify(upstream, endpoint, status, error)
        if alert is not None:
            self.send(alert)

    def breaker_opened(self, circuit: str) -> None:
        """Alert that calls to `circuit` are being refused locally until it recovers."""
        self.send(
            Alert(
                key=f"upstream.{circuit}.breaker_open",
                text=f"{circuit}: circuit breaker opened after repeated failures; calls paused",
                severity=Severity.CRITICAL,
                detail={"circuit": circuit},
            )
        )

    def send(self, alert: Alert) -> None:
        if self._notifier is None:
            return
        task = asyncio.get_running_loop().create_task(self._notifier.notify(alert))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def drain(self) -> None:
        """Wait until every alert handed over so far has been delivered or given up."""
        while self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)
