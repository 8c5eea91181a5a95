"""The one rate-limit retry of order writes (a submit or a cancel).

A write is sent once; only a `RateLimited` refusal (the gateway refused *before* accepting, e.g.
KIS EGW00201) is sent again, after 1 s, 2 s, 4 s ... capped (`OrderPolicy.backoff`), at most
`max_send_attempts` times in all. Before each resend `reclaim` re-checks in the journal that this
caller still owns the write: a start-up recovery elsewhere may have taken the intent over while we
slept, and then only it may decide. Every other outcome is returned to the caller, which knows
what it means for its write (refused, unknown, a bug).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Generic, TypeVar

import structlog

from orchestrator.domain.errors import RateLimited

log = structlog.get_logger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class OrderPolicy:
    """Timings of the journal. `settle_after`: an order still absent from the broker's list this
    long after it was sent never reached the broker. `lookback_margin` absorbs clock skew between
    us and the broker when matching by time."""

    max_send_attempts: int = 6
    backoff_base: float = 1.0
    backoff_cap: float = 30.0
    lookback_margin: timedelta = timedelta(minutes=2)
    settle_after: timedelta = timedelta(seconds=60)
    stale_pending: timedelta = timedelta(minutes=10)
    recovery_timeout: float = 600.0
    # The recovery gate: an order arriving during start-up recovery waits this long for it, then
    # gets a retryable OrdersNotReady; recovery running longer than `recovery_slow_after` shows
    # as slow in /readyz and /api/v1/status.
    ready_wait_seconds: float = 10.0
    recovery_slow_after: float = 30.0
    fill_lookback: timedelta = timedelta(days=7)
    # A streamed fill timed within this long of an order-list read that raised the order's
    # fills may already be in that read: it is settled from the list instead of being added.
    stream_overlap: timedelta = timedelta(seconds=2)

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after the `attempt`-th refusal: base, 2*base, 4*base ... capped."""
        delay = self.backoff_base * float(2 ** max(attempt - 1, 0))
        return min(self.backoff_cap, max(delay, retry_after or 0.0))


@dataclass(frozen=True, slots=True)
class Sent(Generic[T]):
    """How a write ended. Exactly one of: `value` (the upstream answered), `gave_up` (rate
    limited on every attempt), `abandoned` (someone else owns the write now), `error` (any other
    exception, for the caller to classify). `attempt`: how many sends were made in all."""

    attempt: int
    value: T | None = None
    gave_up: RateLimited | None = None
    abandoned: bool = False
    error: Exception | None = field(default=None)


async def send_with_rate_limit_retry(
    send: Callable[[], Awaitable[T]],
    *,
    policy: OrderPolicy,
    sleep: Sleep,
    reclaim: Callable[[RateLimited, int], Awaitable[bool]],
    event: str,
    context: Mapping[str, str],
    attempts_before: int = 0,
) -> Sent[T]:
    """Send, resending only after `RateLimited`; see the module docstring."""
    attempt = attempts_before
    while True:
        attempt += 1
        try:
            return Sent(attempt, value=await send())
        except RateLimited as e:
            if attempt >= policy.max_send_attempts:
                return Sent(attempt, gave_up=e)
            delay = policy.backoff(attempt, e.retry_after)
            log.warning(event, attempt=attempt, delay=delay, **context)
            await sleep(delay)
            if not await reclaim(e, attempt):
                return Sent(attempt, abandoned=True)
        except Exception as e:  # classified by the caller, which knows its write
            return Sent(attempt, error=e)
