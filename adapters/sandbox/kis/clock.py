"""The sandbox's own clock, so demos and tests can be at any hour (spec §7.3, §2.1).

KIS speaks KST wall-clock strings (`YYYYMMDD`, `HHMMSS`, `"YYYY-MM-DD HH:MM:SS"`), so `now()`
answers in KST; every datetime in and out is timezone-aware. The session override lets a demo
force the market open or closed regardless of the time of day.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Literal, cast, get_args

KST = timezone(timedelta(hours=9), "KST")

SessionMode = Literal["auto", "open", "closed"]
SESSION_MODES: tuple[str, ...] = get_args(SessionMode)


def _wall_now() -> datetime:
    return datetime.now(UTC)


def _require_aware(dt: datetime) -> datetime:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("SandboxClock needs timezone-aware datetimes")
    return dt.astimezone(KST)


class SandboxClock:
    """Sandbox time: frozen (tests) or ticking with the wall clock from a chosen start (demos).

    `SandboxClock()` ticks from the real current time. `SandboxClock(start)` is frozen at
    `start` and moves only through `set()`/`advance()`, unless `ticking=True` is passed.
    `session` is "auto" (KRX calendar and hours decide), "open" or "closed".
    """

    def __init__(
        self,
        start: datetime | None = None,
        *,
        ticking: bool | None = None,
        wall: Callable[[], datetime] = _wall_now,
    ) -> None:
        self._wall = wall
        self._ticking = start is None if ticking is None else ticking
        self._anchor = _require_aware(start if start is not None else wall())
        self._anchor_wall = wall()
        self.session: SessionMode = "auto"

    @property
    def ticking(self) -> bool:
        return self._ticking

    def now(self) -> datetime:
        """The current sandbox time, in KST."""
        if not self._ticking:
            return self._anchor
        return self._anchor + (self._wall() - self._anchor_wall)

    def set(self, dt: datetime) -> None:
        """Jump to `dt` (aware); a ticking clock keeps ticking from there."""
        self._anchor = _require_aware(dt)
        self._anchor_wall = self._wall()

    def advance(self, seconds: float) -> None:
        """Move the clock forward (or back, if negative) by `seconds`."""
        self.set(self.now() + timedelta(seconds=seconds))

    def set_session(self, mode: str) -> None:
        """Force the market "open" or "closed", or give it back to the calendar with "auto"."""
        if mode not in SESSION_MODES:
            raise ValueError(f"session must be one of {SESSION_MODES}")
        self.session = cast(SessionMode, mode)
