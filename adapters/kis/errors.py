"""The one place where KIS answers become domain errors (spec §5 envelope, §6 codes).

Every code the spec lists has a row in `CODES`, classified by what the caller does next. Codes not
listed fall back on the HTTP status, so `classify` is total. Decisions are made by VENDOR CODE,
never by HTTP status alone: KIS answers EGW00201 (rate limited: the request was refused before
acceptance, so even an order may be sent again) with HTTP 500, just like a real server error
(which, after an order left, means the outcome is unknown).

`translator()` builds the `translate` function `ResilientClient.call` expects; `boundary()` is
the context manager that turns what is left (unreadable replies, stray httpx errors) into domain
errors. Messages never carry tokens, app keys or account numbers: KIS's own `msg1` texts do not
contain them, and our own texts never include them.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from enum import StrEnum

import httpx

from adapters.http import Translate
from adapters.http.payloads import reply_boundary
from adapters.kis.schemas import Envelope, PayloadError, parse_json
from orchestrator.domain.errors import (
    AccountUnknown,
    AuthError,
    OrderOutcomeUnknown,
    OrderRejected,
    RateLimited,
    RequestRefused,
    SourceError,
    SourceUnavailable,
    TokenExpired,
)

TOKEN_THROTTLE_SECONDS = 60.0  # spec §2.1: 1 issuance per minute per app key


class Kind(StrEnum):
    """What a code means for the caller."""

    SUCCESS = "success"  # rt_cd "0" replies carry these
    RATE_LIMITED = "rate_limited"  # refused before acceptance: back off, send again (orders too)
    RENEW_TOKEN = "renew_token"  # token invalid/expired: re-issue once, retry once
    TOKEN_THROTTLED = "token_throttled"  # tokenP 1/min: wait it out
    CREDENTIALS = "credentials"  # app key/secret/permission/host pairing: a person fixes it
    RETRY = "retry"  # transient upstream trouble: reads retry; an order's outcome is unknown
    REFUSED = "refused"  # our request is wrong or unsupported there: never resend as-is
    REJECTED = "rejected"  # business refusal (hours, funds, symbol, tick): never resend
    ACCOUNT_UNKNOWN = "account_unknown"  # no such account for this app key
    PAGE_CHANGED = "page_changed"  # SYDB0050: data moved while paging: restart from page one


def _range(prefix: str, first: int, last: int, width: int, kind: Kind) -> dict[str, Kind]:
    return {f"{prefix}{n:0{width}d}": kind for n in range(first, last + 1)}


CODES: dict[str, Kind] = {
    # Success / informational (spec §6; 40620000 is the sandbox's paper modify text).
    "APBK0013": Kind.SUCCESS,
    "APBK2938": Kind.SUCCESS,
    "40600000": Kind.SUCCESS,
    "40590000": Kind.SUCCESS,
    "40620000": Kind.SUCCESS,
    "40630000": Kind.SUCCESS,
    "KIOK0510": Kind.SUCCESS,
    "KIOK0460": Kind.SUCCESS,
    "KIOK0420": Kind.SUCCESS,
    "MCA00000": Kind.SUCCESS,
    "20310000": Kind.SUCCESS,
    # Gateway (EGW), spec §6.
    "EGW00001": Kind.RETRY,
    "EGW00002": Kind.RETRY,
    "EGW00003": Kind.CREDENTIALS,
    "EGW00101": Kind.REFUSED,
    **_range("EGW", 102, 105, 5, Kind.CREDENTIALS),  # app key / app secret missing or invalid
    **_range("EGW", 106, 115, 5, Kind.REFUSED),  # malformed OAuth parameters
    "EGW00121": Kind.RENEW_TOKEN,
    "EGW00122": Kind.RENEW_TOKEN,
    "EGW00123": Kind.RENEW_TOKEN,
    "EGW00131": Kind.REFUSED,
    "EGW00132": Kind.REFUSED,
    "EGW00133": Kind.TOKEN_THROTTLED,
    "EGW00201": Kind.RATE_LIMITED,
    "EGW00215": Kind.RATE_LIMITED,
    "EGW00202": Kind.RETRY,
    "EGW00203": Kind.RETRY,
    "EGW00300": Kind.RETRY,
    "EGW00204": Kind.RETRY,
    "EGW00205": Kind.CREDENTIALS,
    "EGW00206": Kind.CREDENTIALS,
    "EGW00207": Kind.CREDENTIALS,
    "EGW00208": Kind.REFUSED,
    "EGW00210": Kind.CREDENTIALS,
    "EGW00213": Kind.CREDENTIALS,
    "EGW02004": Kind.CREDENTIALS,
    "EGW02006": Kind.REFUSED,
    "EGW02007": Kind.CREDENTIALS,
    # Queue / input (OPSQ), spec §6.
    "OPSQ0001": Kind.RETRY,
    "OPSQ0010": Kind.RETRY,
    "OPSQ0011": Kind.RETRY,
    "OPSQ1002": Kind.RETRY,
    "OPSQ2000": Kind.ACCOUNT_UNKNOWN,
    "OPSQ2001": Kind.REFUSED,
    "OPSQ2002": Kind.REFUSED,
    **_range("OPSQ", 9995, 9999, 4, Kind.REFUSED),
    # Other platform codes, spec §6.
    "MCA00124": Kind.REFUSED,
    "IGW00009": Kind.RETRY,
    "SYDB0050": Kind.PAGE_CHANGED,
    # Order rejects (HTTP 200, rt_cd ≠ "0"), spec §6; APBK0400/40240000/40580000 as the sandbox
    # words the sellable-quantity and paper after-close refusals.
    "APBK0918": Kind.REJECTED,
    "KIOK0320": Kind.REJECTED,
    "APBK0919": Kind.REJECTED,
    "APBK0952": Kind.REJECTED,
    "APBK0656": Kind.REJECTED,
    "APBK0506": Kind.REJECTED,
    "APBK3013": Kind.REJECTED,
    "APBK0400": Kind.REJECTED,
    "40330000": Kind.REJECTED,
    "40570000": Kind.REJECTED,
    "40580000": Kind.REJECTED,
    "40240000": Kind.REJECTED,
    "90000000": Kind.REFUSED,
    # WebSocket control codes (spec §6): not REST answers; listed so the table is complete.
    "OPSP0000": Kind.SUCCESS,
    "OPSP0001": Kind.SUCCESS,
    "OPSP0002": Kind.REFUSED,
    "OPSP0003": Kind.REFUSED,
    "OPSP0007": Kind.RETRY,
    "OPSP0008": Kind.REFUSED,
    **_range("OPSP", 8992, 9999, 4, Kind.REFUSED),
}

RENEW_TOKEN_CODES = frozenset(code for code, kind in CODES.items() if kind is Kind.RENEW_TOKEN)
PAGE_CHANGED_CODE = "SYDB0050"


class TokenThrottled(RateLimited):
    """tokenP answered EGW00133: wait `retry_after` seconds. auth.py waits it out itself."""

    retryable = False  # the layer must not spend its capped backoff on a one-minute window


class PageDataChanged(SourceError):
    """SYDB0050 while paging: start over from page one. Never leaves the adapter."""


def classify(code: str, status: int, message: str = "") -> Kind:
    """The kind of a failure reply; total: unlisted codes fall back on the HTTP status."""
    kind = CODES.get(code.strip().upper())
    if kind is Kind.REFUSED and code == "OPSQ2001" and "ACNO" in message.upper():
        return Kind.ACCOUNT_UNKNOWN  # "ERROR : INPUT INVALID_CHECK_ACNO"
    if kind is not None and kind is not Kind.SUCCESS:
        return kind
    if status == 429:
        return Kind.RATE_LIMITED
    if status in (401, 403):
        return Kind.CREDENTIALS
    if status >= 500:
        return Kind.RETRY
    return Kind.REFUSED


def error_for(
    source: str, code: str, message: str, status: int, *, sending_order: bool = False
) -> SourceError:
    """The domain error for a failure reply. With `sending_order`, refusals are OrderRejected
    and anything that may have happened after KIS took the order is OrderOutcomeUnknown."""
    kind = classify(code, status, message)
    text = f"{code} {message}".strip() or f"HTTP {status}"
    code_or_none = code or None
    if kind is Kind.RATE_LIMITED:
        return RateLimited(source, text, code=code_or_none)
    if kind is Kind.TOKEN_THROTTLED:
        return TokenThrottled(source, text, code=code_or_none, retry_after=TOKEN_THROTTLE_SECONDS)
    if kind is Kind.RENEW_TOKEN:
        return TokenExpired(source, text, code=code_or_none)
    if kind is Kind.CREDENTIALS:
        return AuthError(source, text, code=code_or_none)
    if kind in (Kind.RETRY, Kind.PAGE_CHANGED) and sending_order:
        return OrderOutcomeUnknown(source, text, code=code_or_none)
    if kind is Kind.RETRY:
        return SourceUnavailable(source, text, code=code_or_none)
    if kind is Kind.PAGE_CHANGED:
        return PageDataChanged(source, text, code=code_or_none)
    if sending_order:
        return OrderRejected(source, text, code=code_or_none)
    if kind is Kind.ACCOUNT_UNKNOWN:
        return AccountUnknown(source, text, code=code_or_none)
    return RequestRefused(source, text, code=code_or_none)


def translator(source: str, *, sending_order: bool = False) -> Translate:
    """`translate` for ResilientClient.call: None for success, else the domain error.

    The body is read whatever the status (spec §10.3): success only when `rt_cd == "0"` (or, for
    the OAuth endpoints, a 2xx without an error code). A reply that is not JSON is left to the
    layer's status fallback when it is 4xx/5xx; a 2xx that cannot be read is unavailable, or for
    an order, of unknown outcome (KIS may have booked it).
    """

    def translate(response: httpx.Response) -> SourceError | None:
        status = response.status_code
        try:
            envelope = Envelope.parse(parse_json(response.content))
        except PayloadError:
            if status >= 400:
                return None
            if sending_order:
                return OrderOutcomeUnknown(source, f"unreadable HTTP {status} reply to an order")
            return SourceUnavailable(source, f"unreadable HTTP {status} reply")
        if envelope.ok:
            return None
        if not envelope.rt_cd and not envelope.code:
            return None  # OAuth success shape (no envelope); a 4xx/5xx falls back by status
        return error_for(
            source, envelope.code, envelope.message, status, sending_order=sending_order
        )

    return translate


def boundary(source: str, *, sending_order: bool = False) -> AbstractContextManager[None]:
    """Re-raise what is left after the layer as domain errors named after `source`.

    Domain errors pass through. An accepted reply we cannot read becomes SourceUnavailable, or
    OrderOutcomeUnknown when an order was sent (KIS may hold it). httpx errors the layer does not
    translate (decoding, redirects) follow the same rule.
    """
    return reply_boundary(
        source, unknown=OrderOutcomeUnknown if sending_order else None, sent="order"
    )
