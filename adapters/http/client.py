"""One upstream's HTTP calls, each behind breaker, rate limits, retry, metrics, skew and alerts.

The layer knows no vendor: each call brings a `translate` function that reads the vendor's
envelope and returns the domain error it means, or None for success.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import structlog

from adapters.http.alerting import UpstreamAlerts
from adapters.http.breaker import CircuitBreakers
from adapters.http.limiter import KeyedRateLimiter, Sleep
from adapters.http.metrics import UpstreamMetrics, outcome_of
from adapters.http.retry import RetryPolicy, parse_retry_after
from adapters.http.skew import SkewMonitor
from orchestrator.domain.errors import (
    AccountUnknown,
    AuthError,
    OutcomeUnknown,
    RateLimited,
    RequestRefused,
    SourceError,
    SourceUnavailable,
)

log = structlog.get_logger(__name__)

Translate = Callable[[httpx.Response], SourceError | None]

# Transport failures that happen before any byte of the request can have left this host.
_NOTHING_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Answers that say the upstream refused a write without acting on it, whatever the HTTP status.
_REFUSED_BEFORE_ACCEPTANCE = (RateLimited, AuthError, RequestRefused, AccountUnknown)


@dataclass(slots=True)
class _Request:
    method: str
    url: str
    endpoint: str
    translate: Translate
    limit_keys: Sequence[str]
    write: bool
    unknown_error: type[OutcomeUnknown]
    circuit: str
    httpx_kwargs: dict[str, Any]


class ResilientClient:
    """Sends requests to one upstream through the shared resilience machinery.

    Per attempt: breaker check, one rate-limit slot per key (retries included), send, clock-skew
    check, translate, metrics and alerts, then return or raise. Reads are retried on retryable
    errors; writes only when the gateway refused them before acceptance (RateLimited).
    """

    def __init__(
        self,
        upstream: str,
        http: httpx.AsyncClient,
        *,
        limiter: KeyedRateLimiter,
        breakers: CircuitBreakers,
        metrics: UpstreamMetrics,
        skew: SkewMonitor,
        alerts: UpstreamAlerts,
        policy: RetryPolicy,
        sleep: Sleep = asyncio.sleep,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.upstream = upstream
        self._http = http
        self._limiter = limiter
        self._breakers = breakers
        self._metrics = metrics
        self._skew = skew
        self._alerts = alerts
        self._policy = policy
        self._sleep = sleep
        self._timer = timer

    async def call(
        self,
        method: str,
        url: str,
        *,
        endpoint: str,
        translate: Translate,
        limit_keys: Sequence[str] = (),
        write: bool = False,
        unknown_error: type[OutcomeUnknown] = OutcomeUnknown,
        circuit: str | None = None,
        **httpx_kwargs: Any,
    ) -> httpx.Response:
        """Send the request and return the response `translate` accepted.

        `endpoint` names the call in metrics and logs (never the URL: it may carry account
        numbers). `write=True` for anything that changes state upstream (orders, transfers): it is
        sent once, again only after a RateLimited refusal; a reply lost after sending raises
        `unknown_error`; a connection that never opened raises SourceUnavailable. `circuit`
        selects a breaker per endpoint group (default: one per upstream).

        Raises the domain error from `translate` (or a fallback by HTTP status when it returns
        None for a 4xx/5xx), CircuitOpen while the breaker is open, RateLimited when no rate
        slot frees up in time.
        """
        request = _Request(
            method=method,
            url=url,
            endpoint=endpoint,
            translate=translate,
            limit_keys=limit_keys,
            write=write,
            unknown_error=unknown_error,
            circuit=circuit or self.upstream,
            httpx_kwargs=httpx_kwargs,
        )
        failed = 0
        while True:
            try:
                return await self._attempt(request)
            except SourceError as error:
                failed += 1
                wait = self._policy.delay(failed, error, write=write)
                if wait is None:
                    raise
                log.info(
                    "upstream.retry_scheduled",
                    upstream=self.upstream,
                    endpoint=endpoint,
                    attempt=failed,
                    wait_seconds=round(wait, 3),
                    error=type(error).__name__,
                    code=error.code,
                )
                self._metrics.retried(self.upstream, endpoint)
                await self._sleep(wait)

    async def _attempt(self, request: _Request) -> httpx.Response:
        async with self._breakers.guard(request.circuit, source=self.upstream):
            for key in request.limit_keys:
                await self._limiter.acquire(key, source=self.upstream)
            started = self._timer()
            try:
                response = await self._http.request(
                    request.method, request.url, **request.httpx_kwargs
                )
            except httpx.TransportError as exc:
                failure = self._transport_error(exc, request)
                self._record(request.endpoint, started, None, failure)
                raise failure from exc
            self._skew.observe(self.upstream, response.headers.get("date"))
            error = self._answer_error(response, request)
            self._record(request.endpoint, started, response.status_code, error)
            if error is not None:
                raise error
            return response

    def _answer_error(self, response: httpx.Response, request: _Request) -> SourceError | None:
        status = response.status_code
        try:
            error = request.translate(response)
        except ValueError:
            # A proxy's HTML error page is not the vendor's envelope: judge it by its status.
            if status < 400:
                raise
            error = None
        if error is None:
            if status < 400:
                return None
            error = self._by_status(status)
        if isinstance(error, SourceUnavailable) and error.retry_after is None:
            headers = response.headers
            error.retry_after = parse_retry_after(headers.get("retry-after"), headers.get("date"))
        if (
            request.write
            and status >= 500
            and not isinstance(error, (*_REFUSED_BEFORE_ACCEPTANCE, request.unknown_error))
        ):
            # A 5xx after a write left says nothing about whether it was carried out.
            return request.unknown_error(
                self.upstream, f"HTTP {status} after the request was sent", code=error.code
            )
        return error

    def _by_status(self, status: int) -> SourceError:
        # Only when `translate` saw nothing wrong in a failed reply: never treat it as success.
        message = f"HTTP {status}"
        if status == 429:
            return RateLimited(self.upstream, message)
        if status in (401, 403):
            return AuthError(self.upstream, message)
        if status >= 500:
            return SourceUnavailable(self.upstream, message)
        return RequestRefused(self.upstream, message)

    def _transport_error(self, exc: httpx.TransportError, request: _Request) -> SourceError:
        name = type(exc).__name__
        if request.write and not isinstance(exc, _NOTHING_SENT):
            return request.unknown_error(self.upstream, f"{name} after the request was sent")
        return SourceUnavailable(self.upstream, name)

    def _record(
        self, endpoint: str, started: float, status: int | None, error: SourceError | None
    ) -> None:
        elapsed = self._timer() - started
        outcome = outcome_of(error)
        self._metrics.observe(self.upstream, endpoint, outcome, elapsed)
        if error is None:
            log.debug(
                "upstream.request",
                upstream=self.upstream,
                endpoint=endpoint,
                status=status,
                outcome=outcome,
                elapsed_ms=round(elapsed * 1000, 1),
            )
            return
        # A business refusal is the upstream working as designed; the rest is trouble.
        emit = log.info if isinstance(error, RequestRefused | AccountUnknown) else log.warning
        emit(
            "upstream.request",
            upstream=self.upstream,
            endpoint=endpoint,
            status=status,
            outcome=outcome,
            code=error.code,
            elapsed_ms=round(elapsed * 1000, 1),
        )
        self._alerts.reply(self.upstream, endpoint, status, error)
