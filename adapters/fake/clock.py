"""The fake clock every test and demo uses instead of its own: time moves only when told to.

One object answers all three questions code asks about time, so they can never disagree:
`now()` is the Clock port (aware, UTC), `monotonic()` (also the object's call) is the seconds
counter limiters, breakers and caches take as `timer`, and `sleep()` is the injected sleep, which
records the wait and moves both instead of waiting. Sandboxes follow it through their `wall`
argument (`SandboxClock(start, ticking=True, wall=clock.now)`), so vendor time and ours are one.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

# Monotonic counters have an arbitrary origin; a non-zero one catches code that treats 0 as unset.
_MONOTONIC_START = 1_000.0


class FakeClock:
    """Wall time, monotonic seconds and sleep that move only through `advance`, `set` or `sleep`.

    `sleeps` lists every wait asked of `sleep`, in order (tests assert on backoff this way).
    """

    def __init__(self, start: datetime, *, monotonic_start: float = _MONOTONIC_START) -> None:
        if start.utcoffset() is None:
            raise ValueError("FakeClock needs an aware start time")
        self._now = start.astimezone(UTC)
        self._seconds = monotonic_start
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._seconds

    def __call__(self) -> float:
        """The monotonic seconds, so the clock itself can be passed where a `timer` is taken."""
        return self._seconds

    def advance(self, seconds: float) -> None:
        """Move wall and monotonic time forward (a negative value moves the wall clock back only:
        monotonic time never runs backwards)."""
        self._now += timedelta(seconds=seconds)
        self._seconds += max(0.0, seconds)

    def set(self, when: datetime) -> None:
        """Jump the wall clock to `when` (aware); a jump forward also moves monotonic time."""
        if when.utcoffset() is None:
            raise ValueError("FakeClock needs aware times")
        when = when.astimezone(UTC)
        self._seconds += max(0.0, (when - self._now).total_seconds())
        self._now = when

    async def sleep(self, seconds: float) -> None:
        """Record the wait, move time by it, and yield once to the loop (as a real sleep would)."""
        self.sleeps.append(seconds)
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)
