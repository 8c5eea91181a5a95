"""The one place where Kiwoom answers become domain errors (digest §2.4).

Kiwoom answers on HTTP 200 with `return_code` (0 = OK) and `return_msg`, whose bracketed part
carries the vendor code (`...[1700:...]`). The throttle (`return_code 5 [1700]`) and the batch
limit (`return_code 5 [1634]`) share the group and the text, so decisions are made by the
BRACKETED CODE, then by the HTTP status; `return_code` alone decides nothing but "not OK".

Every code the digest lists has a row in `CODES`, classified by what the caller does next;
codes not listed fall back on the status, so `classify` is total (tested).
"""

from __future__ import annotations

import re
from contextlib import AbstractContextManager
from enum import StrEnum

import httpx

from adapters.http import Translate
from adapters.http.payloads import reply_boundary
from adapters.kiwoom.schemas import Envelope, PayloadError, parse_json
from orchestrator.domain.errors import (
    AuthError,
    OrderOutcomeUnknown,
    OrderRejected,
    RateLimited,
    RequestRefused,
    SourceError,
    SourceUnavailable,
    TokenExpired,
)


class Kind(StrEnum):
    """What a code means for the caller."""

    RATE_LIMITED = "rate_limited"  # refused before acceptance: back off, send again (orders too)
    RENEW_TOKEN = "renew_token"  # token invalid/expired/other env: re-issue once, retry once
    CREDENTIALS = "credentials"  # key, secret, IP or environment: a person fixes it
    RETRY = "retry"  # transient upstream trouble: reads retry; an order's outcome is unknown
    REFUSED = "refused"  # our request is wrong or unsupported there: never resend as-is
    REJECTED = "rejected"  # business refusal of an order: never resend


CODES: dict[str, Kind] = {
    # Input and format (digest §2.4).
    "1501": Kind.REFUSED,  # no API ID
    "1504": Kind.REFUSED,  # API ID not valid for this URI
    "1505": Kind.REFUSED,  # unknown API ID
    "1511": Kind.REFUSED,  # required field missing
    "1512": Kind.REFUSED,  # header problems ...
    "1513": Kind.REFUSED,
    "1514": Kind.RENEW_TOKEN,  # ... authorization missing: a fresh token header fixes it
    "1515": Kind.REFUSED,
    "1516": Kind.REFUSED,
    "1517": Kind.REFUSED,  # bad input format
    "1687": Kind.REFUSED,  # recursive call blocked
    "1634": Kind.REFUSED,  # batch too large (same return_code 5 as the throttle): split it
    "1700": Kind.RATE_LIMITED,  # request count exceeded
    "1901": Kind.REFUSED,  # unknown market code
    "1902": Kind.REFUSED,  # unknown instrument code
    "1999": Kind.RETRY,  # unexpected error (mock gaps are told apart by their text)
    # Credentials.
    "8001": Kind.CREDENTIALS,
    "8002": Kind.CREDENTIALS,
    "8011": Kind.CREDENTIALS,  # grant_type missing: our bug, but nothing a retry fixes
    "8012": Kind.CREDENTIALS,
    "8020": Kind.CREDENTIALS,
    # Tokens: the official client clears the token, re-issues and retries once on these.
    "8003": Kind.RENEW_TOKEN,
    "8005": Kind.RENEW_TOKEN,
    "8006": Kind.RENEW_TOKEN,
    "8009": Kind.RENEW_TOKEN,
    "8031": Kind.RENEW_TOKEN,  # a token of the other environment: ours is re-issued
    "8103": Kind.RENEW_TOKEN,
    "8015": Kind.REFUSED,  # revoke failures
    "8016": Kind.REFUSED,
    # Environment and device checks.
    "8030": Kind.CREDENTIALS,  # app key of the other environment
    "8010": Kind.CREDENTIALS,  # token issued to another IP: register this host's IP
    "8040": Kind.CREDENTIALS,
    "8050": Kind.CREDENTIALS,
    # Order-level refusals seen in the field.
    "RC4032": Kind.REJECTED,  # original order number does not exist
}
RENEW_TOKEN_CODES = frozenset(
    {*(code for code, kind in CODES.items() if kind is Kind.RENEW_TOKEN), "401"}
)
MOCK_GAP_TEXT = "모의투자"  # "모의투자에서는 해당업무가 제공되지 않습니다"
_BRACKET = re.compile(r"\[([A-Za-z]*\d+)(?::|\])")


def code_of(message: str) -> str:
    """The vendor code in brackets (`[1700:...]`, `[RC4032]`), else ""."""
    found = _BRACKET.findall(message)
    return found[-1].upper() if found else ""


def classify(code: str, status: int, message: str = "", return_code: str = "") -> Kind:
    """The kind of a failure; total: unlisted codes fall back on the status, then the group."""
    kind = CODES.get(code.strip().upper())
    if kind is Kind.RETRY and code == "1999" and MOCK_GAP_TEXT in message:
        return Kind.REFUSED  # the mock host does not offer this TR
    if kind is not None:
        return kind
    if status == 429:
        return Kind.RATE_LIMITED
    if status == 401:
        return Kind.RENEW_TOKEN
    if status == 403:
        return Kind.CREDENTIALS
    if status >= 500:
        return Kind.RETRY
    if return_code.strip() == "5":
        return Kind.RATE_LIMITED  # the throttle group without a readable code
    return Kind.REJECTED


def error_for(
    source: str,
    code: str,
    message: str,
    status: int,
    *,
    return_code: str = "",
    sending_order: bool = False,
) -> SourceError:
    """The domain error for a failure. With `sending_order`, refusals are OrderRejected and
    anything that may have happened after Kiwoom took the order is OrderOutcomeUnknown."""
    kind = classify(code, status, message, return_code)
    text = message.strip() or f"HTTP {status}"
    code_or_none = code or (str(status) if status >= 400 else None)
    if kind is Kind.RATE_LIMITED:
        return RateLimited(source, text, code=code_or_none)
    if kind is Kind.RENEW_TOKEN:
        return TokenExpired(source, text, code=code_or_none)
    if kind is Kind.CREDENTIALS:
        return AuthError(source, text, code=code_or_none)
    if kind is Kind.RETRY:
        if sending_order:
            return OrderOutcomeUnknown(source, text, code=code_or_none)
        return SourceUnavailable(source, text, code=code_or_none)
    if sending_order:
        return OrderRejected(source, text, code=code_or_none)
    return RequestRefused(source, text, code=code_or_none)


def translator(source: str, *, sending_order: bool = False) -> Translate:
    """`translate` for ResilientClient.call: None for success, else the domain error.

    Success only when `return_code` is 0 on a 2xx. A reply that is not JSON is left to the
    layer's status fallback when it is 4xx/5xx (401 still renews the token); a 2xx that cannot
    be read is unavailable, or for an order, of unknown outcome (Kiwoom may have booked it).
    """

    def translate(response: httpx.Response) -> SourceError | None:
        status = response.status_code
        try:
            envelope = Envelope.parse(parse_json(response.content))
        except PayloadError:
            if status in (401, 429):
                return error_for(source, "", "", status, sending_order=sending_order)
            if status >= 400:
                return None
            if sending_order:
                return OrderOutcomeUnknown(source, f"unreadable HTTP {status} reply to an order")
            return SourceUnavailable(source, f"unreadable HTTP {status} reply")
        if status < 400 and envelope.return_code.strip() in ("0", ""):
            return None
        return error_for(
            source,
            code_of(envelope.return_msg),
            envelope.return_msg,
            status,
            return_code=envelope.return_code,
            sending_order=sending_order,
        )

    return translate


def boundary(source: str, *, sending_order: bool = False) -> AbstractContextManager[None]:
    """Re-raise what is left after the layer as domain errors named after `source`."""
    return reply_boundary(
        source, unknown=OrderOutcomeUnknown if sending_order else None, sent="order"
    )
