"""How values look on the wire: every number a string, KST date/time strings (spec §3, §5).

KIS answers every field as a string (`"0"`, `"71250.0000"`); right-padded messages and
fixed-width continuation keys are part of that look, so they are built here too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from email.utils import formatdate

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


# KIS's own reply headers travel in lowercase; every standard header is capitalised
# (spec §3, "Header-name casing on the wire"). The official sample copies the lowercase
# names into namedtuple fields, so `content-type` in lowercase breaks every call there.
KIS_OWN_HEADERS = frozenset({b"tr_id", b"tr_cont", b"gt_uid"})


def wire_name(name: bytes) -> bytes:
    """A header name as the gateway writes it: `Content-Type`, but `tr_id`."""
    lower = name.lower()
    if lower in KIS_OWN_HEADERS:
        return lower
    return b"-".join(part.capitalize() for part in lower.split(b"-"))


class GatewayCasing:
    """ASGI middleware: every reply of the app leaves with the gateway's header-name casing
    and a `Date` header. Starlette keeps header names in lowercase internally, and uvicorn
    writes them as given, so the names are rewritten on their way out. Serve the app with
    uvicorn's own Date/Server headers off (`server.uvicorn_config`): uvicorn adds them in
    lowercase."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def cased(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(wire_name(k), v) for k, v in message.get("headers", [])]
                if not any(k == b"Date" for k, _ in headers):
                    headers.insert(0, (b"Date", formatdate(usegmt=True).encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, cased)
