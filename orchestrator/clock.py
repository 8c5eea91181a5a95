"""The system clock: the Clock port as production reads it (the fake is adapters/fake/clock.py)."""

from __future__ import annotations

from datetime import UTC, datetime


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)
