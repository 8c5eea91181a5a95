"""Alerts sent to operators through a Notifier."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class Alert:
    """`key` identifies the condition (for de-duplication); `text` is what a person reads."""

    key: str
    text: str
    severity: Severity = Severity.WARNING
    detail: Mapping[str, str] = field(default_factory=dict)
