"""Sandbox time: frozen (tests move it) or ticking from a chosen start (demos, benchmarks)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from adapters.sandbox.kiwoom.wire import KST


def _wall() -> datetime:
    return datetime.now(UTC)


class KiwoomClock:
    """`KiwoomClock()` ticks with the wall clock; `KiwoomClock(start)` is frozen at `start`."""

    def __init__(
        self,
        start: datetime | None = None,
        *,
        ticking: bool | None = None,
        wall: Callable[[], datetime] = _wall,
    ) -> None:
        if start is not None and start.utcoffset() is None:
            raise ValueError("KiwoomClock needs a timezone-aware start")
        self._wall = wall
        self.ticking = start is None if ticking is None else ticking
        self._anchor = (start or wall()).astimezone(KST)
        self._anchor_wall = wall()

    def now(self) -> datetime:
        if not self.ticking:
            return self._anchor
        return self._anchor + (self._wall() - self._anchor_wall)

    def set(self, at: datetime) -> None:
        if at.utcoffset() is None:
            raise ValueError("KiwoomClock needs timezone-aware datetimes")
        self._anchor = at.astimezone(KST)
        self._anchor_wall = self._wall()

    def advance(self, seconds: float) -> None:
        self.set(self.now() + timedelta(seconds=seconds))
