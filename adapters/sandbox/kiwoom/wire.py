"""How values look on a Kiwoom wire (second-broker digest §2.1).

Account TRs write numbers as left-zero-padded signed fixed-width strings ("000000000124500",
"-00000000196888"); quote TRs prefix a direction sign to prices ("-160400": 160,400, down from
the base price); rates are plain decimals ("46.25"); codes in balances carry an `A` prefix.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal

from starlette.responses import Response

KST = timezone(timedelta(hours=9), "KST")
JSON_CONTENT_TYPE = "application/json;charset=UTF-8"


def padded(value: int, width: int = 15) -> str:
    """A signed zero-padded number of `width` characters, the sign taking one of them."""
    if value < 0:
        return "-" + str(-value).rjust(width - 1, "0")
    return str(value).rjust(width, "0")


def signed_price(price: int, base: int) -> str:
    """A quote price with its direction sign against the base (previous close) price."""
    if price > base:
        return f"+{price}"
    if price < base:
        return f"-{price}"
    return str(price)


def rate(numerator: int, denominator: int) -> str:
    if denominator == 0:
        return "0.00"
    value = Decimal(numerator) * 100 / Decimal(denominator)
    return format(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP), "f")


def kst_date(at: datetime) -> str:
    return at.astimezone(KST).strftime("%Y%m%d")


def kst_time(at: datetime) -> str:
    return at.astimezone(KST).strftime("%H%M%S")


def expires_dt(at: datetime) -> str:
    """The token expiry as `expires_dt` writes it: `YYYYMMDDHHMMSS`, KST."""
    return at.astimezone(KST).strftime("%Y%m%d%H%M%S")


def json_response(
    body: Mapping[str, object], status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    content = json.dumps(body, ensure_ascii=False).encode("utf-8")
    response = Response(content, status_code=status, headers=headers)
    response.headers["content-type"] = JSON_CONTENT_TYPE
    return response
