"""Per-app-key request limit: 18/s real, 1/s paper by default (spec §7.1, PORTAL 2026-04-20).

A sliding one-second window over the sandbox clock, so tests move time instead of sleeping.
Only admitted requests fill the window; a refused one does not push the next slot back.
"""

from __future__ import annotations

from collections import defaultdict, deque
from datetime import datetime, timedelta

_WINDOW = timedelta(seconds=1)


class RateLimiter:
    """Admits at most `per_second` requests per key in any one-second window."""

    def __init__(self, per_second: int) -> None:
        self.per_second = per_second
        self.refused = 0  # EGW00201 replies so far (reported by GET /_sandbox/accounts)
        self._seen: defaultdict[str, deque[datetime]] = defaultdict(deque)

    def admit(self, key: str, now: datetime) -> bool:
        seen = self._seen[key]
        # A clock set backwards leaves stamps in the future; they no longer count.
        while seen and not (now - _WINDOW < seen[0] <= now):
            seen.popleft()
        while seen and seen[-1] > now:
            seen.pop()
        if len(seen) >= self.per_second:
            self.refused += 1
            return False
        seen.append(now)
        return True
