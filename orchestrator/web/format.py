"""Template filters: KRW with thousands separators, Asia/Seoul times with the offset in a title.

Values arrive JSON-ready from the read models (Decimals as strings, datetimes as ISO 8601), so
every filter accepts strings as well as the typed values, and shows "-" for nothing.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation

from markupsafe import Markup

from orchestrator.domain.timeutil import to_kst


def _decimal(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool | float):
        return None  # money is never a float here; refuse to pretend otherwise
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def krw(value: object) -> str:
    """₩1,234,567 (whole won; sub-won fractions kept when present)."""
    amount = _decimal(value)
    if amount is None:
        return "-"
    text = f"{amount:,.0f}" if amount == amount.to_integral_value() else f"{amount:,}"
    return f"₩{text}"


def number(value: object) -> str:
    """Thousands separators for quantities and counts."""
    amount = _decimal(value)
    if amount is None:
        return "-"
    return f"{amount:,.0f}" if amount == amount.to_integral_value() else f"{amount:,}"


def parse_time(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else None
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo is not None else None
    return None


def kst(value: object, style: str = "full") -> Markup:
    """A <time> in Asia/Seoul; the title carries the full time with its +09:00 offset."""
    when = parse_time(value)
    if when is None:
        return Markup("-")
    local = to_kst(when)
    shown = local.strftime("%m-%d %H:%M" if style == "short" else "%Y-%m-%d %H:%M:%S")
    offset = local.strftime("%z")  # +0900 -> +09:00
    title = f"{local:%Y-%m-%d %H:%M:%S} {offset[:3]}:{offset[3:]} (Asia/Seoul)"
    # Every part is made here from a datetime (digits, "-", ":", "+", spaces): nothing to escape.
    return Markup(f'<time datetime="{local.isoformat()}" title="{title}">{shown}</time>')


def duration(start: object, end: object) -> str:
    a, b = parse_time(start), parse_time(end)
    if a is None or b is None:
        return "-"
    seconds = (b - a).total_seconds()
    if seconds < 1:
        return f"{int(seconds * 1000)} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def age(value: object, now: datetime) -> str:
    when = parse_time(value)
    if when is None:
        return "-"
    seconds = int((now - when).total_seconds())
    if seconds < 60:
        return f"{max(seconds, 0)} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"
