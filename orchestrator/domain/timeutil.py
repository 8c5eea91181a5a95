"""Timezone rules: aware datetimes only; stored in UTC, shown and scheduled in Asia/Seoul."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

KST = ZoneInfo("Asia/Seoul")


def check_aware(owner: object, *fields: str) -> None:
    """Raise ValueError if any named datetime attribute is naive."""
    for name in fields:
        value = getattr(owner, name)
        if value is None:
            continue
        if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"{type(owner).__name__}.{name}: datetime must be timezone-aware")


def to_utc(value: datetime) -> datetime:
    """Convert an aware datetime to UTC; refuse naive ones."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: attach a timezone before storing")
    return value.astimezone(UTC)


def to_kst(value: datetime) -> datetime:
    """Convert an aware datetime to Asia/Seoul for display or vendor formats."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: attach a timezone before converting")
    return value.astimezone(KST)
