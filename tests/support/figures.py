"""Figures the proof suites measure (runs, kills, duplicates, 5xx, canaries found), printed in the
session summary so that the CI log shows them whatever the outcome."""

from __future__ import annotations

from collections import defaultdict

FIGURES: dict[str, dict[str, object]] = defaultdict(dict)


def record(suite: str, **figures: object) -> None:
    """Add or overwrite figures of one suite (the last value of a figure wins)."""
    FIGURES[suite].update(figures)


def add(suite: str, **counts: int) -> None:
    """Add to counting figures of one suite."""
    for name, n in counts.items():
        current = FIGURES[suite].get(name, 0)
        FIGURES[suite][name] = (current if isinstance(current, int) else 0) + n
