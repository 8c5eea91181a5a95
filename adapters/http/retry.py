"""When a failed upstream call is sent again, and after how long.

A small loop in the client rather than stamina: the wait has to come from the error (a capped
Retry-After, 0 for "not again"), writes follow a different rule than reads, and the sleep is
injected so tests can assert the exact sequence without sleeping. stamina's hook waits are not
capped by `wait_max` and its testing mode turns every wait into 0.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime

from adapters.http.breaker import CircuitOpen
from adapters.http.settings import ResilienceSettings
from orchestrator.domain.errors import RateLimited, SourceError, SourceUnavailable


def may_send_again(error: SourceError, *, write: bool) -> bool:
    """Whether the request may be sent again after this error.

    A write (order, transfer) only when the gateway refused it before acceptance: it cannot have
    taken effect. A read when the vendor map marks the error retryable and no breaker is open.
    """
    if write:
        return isinstance(error, RateLimited)
    return error.retryable and not isinstance(error, CircuitOpen)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with additive jitter, capped; a bounded number of attempts in all."""

    attempts: int = 5
    initial_seconds: float = 1.0
    max_seconds: float = 30.0
    jitter_seconds: float = 1.0
    random: Callable[[], float] = field(default=random.random, repr=False)

    @classmethod
    def from_settings(cls, settings: ResilienceSettings) -> RetryPolicy:
        return cls(
            attempts=settings.retry_attempts,
            initial_seconds=settings.backoff_initial_seconds,
            max_seconds=settings.backoff_max_seconds,
            jitter_seconds=settings.backoff_jitter_seconds,
        )

    def backoff(self, failed_attempt: int) -> float:
        """Wait after the `failed_attempt`-th try (1-based): 1, 2, 4, ... plus jitter, capped."""
        # Capping the exponent first keeps 2**n from growing without bound.
        base = self.initial_seconds * 2.0 ** min(failed_attempt - 1, 64)
        return min(self.max_seconds, base + self.jitter_seconds * self.random())

    def delay(self, failed_attempt: int, error: SourceError, *, write: bool) -> float | None:
        """Seconds to wait before the next try, or None when the error must reach the caller."""
        if failed_attempt >= self.attempts or not may_send_again(error, write=write):
            return None
        hint = error.retry_after if isinstance(error, SourceUnavailable) else None
        if hint is not None:
            return min(max(hint, 0.0), self.max_seconds)
        return self.backoff(failed_attempt)


def parse_retry_after(value: str | None, date: str | None = None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds, or an HTTP-date read against `date`.

    The response's own Date header is the reference for an HTTP-date, so our clock's skew does
    not matter; without one the date form is ignored.
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    if not date:
        return None
    try:
        retry_at, sent_at = parsedate_to_datetime(value), parsedate_to_datetime(date)
    except (TypeError, ValueError):
        return None
    if not _aware(retry_at) or not _aware(sent_at):
        return None
    return max(0.0, (retry_at - sent_at).total_seconds())


def _aware(value: datetime) -> bool:
    return value.tzinfo is not None
