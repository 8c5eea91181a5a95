"""The real clock, for when no Clock is injected."""

from __future__ import annotations

from datetime import UTC, datetime


class SystemClock:
    """`Clock` on the host's wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)
