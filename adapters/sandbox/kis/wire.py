"""How values look on the wire: every number a string, KST date/time strings (spec §3, §5).

KIS answers every field as a string (`"0"`, `"71250.0000"`); right-padded messages and
fixed-width continuation keys are part of that look, so they are built here too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from starlette.responses import Response

from adapters.sandbox.kis.clock import KST

JSON_CONTENT_TYPE = "application/json; charset=utf-8"


def num(value: int | Decimal, places: int = 0) -> str:
    """A number as KIS writes it: plain digits, a fixed number of decimals when asked."""
    if places == 0 and isinstance(value, int):
        return str(value)
    quantum = Decimal(1).scaleb(-places)
    return format(Decimal(value).quantize(quantum, rounding=ROUND_HALF_UP), "f")


def rate(numerator: int | Decimal, denominator: int | Decimal, places: int) -> str:
    """A percentage `numerator / denominator * 100`, or zero when the base is zero."""
    if denominator == 0:
        return num(Decimal(0), places)
    return num(Decimal(numerator) * 100 / Decimal(denominator), places)


def padded(text: str, width: int) -> str:
    return text.ljust(width)


def kst_date(at: datetime) -> str:
    return at.astimezone(KST).strftime("%Y%m%d")


def kst_time(at: datetime) -> str:
    return at.astimezone(KST).strftime("%H%M%S")


def kst_stamp(at: datetime) -> str:
    """The token expiry format, `YYYY-MM-DD HH:MM:SS` in KST (spec §2.1)."""
    return at.astimezone(KST).strftime("%Y-%m-%d %H:%M:%S")


def json_response(
    body: Mapping[str, object], status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """A JSON reply with the charset KIS declares and non-ASCII text left readable."""
    content = json.dumps(body, ensure_ascii=False).encode("utf-8")
    response = Response(content, status_code=status, headers=headers)
    response.headers["content-type"] = JSON_CONTENT_TYPE
    return response
