"""The one place where relay answers become domain errors (spec §3.1-§3.4).

Every `rsp_code` and `bank_rsp_code` the spec lists has a row here, classified by what the caller
does next; codes not listed fall back to a safe default, so `error_for` is total. Errors come back
as HTTP 200 with a non-A0000 `rsp_code` (spec §3.1, §8.13): the HTTP status is never trusted.
Success needs `rsp_code == "A0000"` and, where present, `bank_rsp_code == "000"`.

The same code means different things for a read and for a transfer (spec §3.3 "client action"):
A0003/A0007 on an inquiry is "retry with a fresh bank_tran_id", on a transfer "outcome unknown,
ask transfer/result, never resend with a new id". Messages carry the relay's own texts only, which
hold no tokens or account numbers.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from contextlib import AbstractContextManager
from enum import StrEnum
from typing import Literal

import httpx

from adapters.http import Translate
from adapters.http.payloads import reply_boundary
from adapters.openbanking.schemas import BANK_OK, Envelope, PayloadError, parse_json
from orchestrator.domain.errors import (
    AccountUnknown,
    AuthError,
    ConsentRequired,
    OutcomeUnknown,
    RateLimited,
    RequestRefused,
    SourceError,
    SourceUnavailable,
    TokenExpired,
)

Operation = Literal["read", "transfer", "token"]


class Kind(StrEnum):
    """What a code means for the caller."""

    SUCCESS = "success"
    RENEW_TOKEN = "renew_token"  # O0002/O0003: refresh (user) or re-issue (oob), retry once
    CONSENT = "consent"  # a person must consent (again)
    CREDENTIALS = "credentials"  # client id/secret/token type wrong: the operator fixes them
    CONFIG = "config"  # contract, permission or registration missing: fix configuration
    QUOTA = "quota"  # plan usage exceeded: back off
    RETRY = "retry"  # not processed now (routing, hours, account move): retry later
    UNKNOWN = "unknown"  # maybe processed: inquiry retries (fresh id), transfer asks result
    DUPLICATE = "duplicate"  # id or transaction seen before: inquiry new id, transfer asks result
    BANK = "bank"  # A0002: the participant's bank_rsp_code decides
    PARTIAL = "partial"  # A0009: list API, check every item's bank_rsp_code
    NO_HISTORY = "no_history"  # A0018: an empty transaction list
    NO_RECORD = "no_record"  # A0310: transfer/result knows no such transfer
    ACCOUNT_UNKNOWN = "account_unknown"  # the account is not (or no longer) ours to read
    REFUSED = "refused"  # the request is wrong or not allowed: never resend as-is


def _codes(kind: Kind, *codes: str) -> dict[str, Kind]:
    return dict.fromkeys(codes, kind)


# rsp_code, spec §3.2 (O-codes) and §3.3 (A-codes).
RSP_CODES: dict[str, Kind] = {
    **_codes(Kind.CREDENTIALS, "O0001", "O0011", "A0010"),
    **_codes(Kind.RENEW_TOKEN, "O0002", "O0003"),
    **_codes(Kind.CONFIG, "O0004", "O0005", "O0006", "A0011", "A0013"),
    **_codes(Kind.RETRY, "O0007", "A0020", "A0314"),
    **_codes(Kind.QUOTA, "O0008", "O0009"),
    "O0010": Kind.REFUSED,  # wrong HTTP method: our bug
    "A0000": Kind.SUCCESS,
    **_codes(Kind.UNKNOWN, "A0001", "A0003", "A0006", "A0007", "A0016", "A0017"),
    "A0002": Kind.BANK,
    **_codes(Kind.REFUSED, "A0004", "A0005", "A0012", "A0015", "A0021"),
    **_codes(Kind.DUPLICATE, "A0008", "A0326"),
    "A0009": Kind.PARTIAL,
    "A0014": Kind.CONSENT,  # the user left open banking
    "A0018": Kind.NO_HISTORY,
    "A0019": Kind.ACCOUNT_UNKNOWN,  # account under user-withdrawal processing
    # Money limits (이용기관 deposit/withdrawal, user withdrawal): refused, no same-day retry.
    **_codes(Kind.REFUSED, "A0101", "A0102", "A0103", "A0104", "A0105", "A0106", "A0111", "A0112"),
    **_codes(Kind.CONFIG, "A0301", "A0302", "A0303", "A0307", "A0308", "A0309", "A0311"),
    **_codes(Kind.CONFIG, "A0320", "A0322", "A0327"),
    "A0304": Kind.ACCOUNT_UNKNOWN,  # fintech_use_num mismatch: re-sync the account list
    "A0323": Kind.ACCOUNT_UNKNOWN,  # not a user account registered with this 이용기관
    **_codes(Kind.CONSENT, "A0305", "A0306", "A0316", "A0319"),
    "A0310": Kind.NO_RECORD,
    **_codes(Kind.REFUSED, "A0312", "A0313", "A0315", "A0317", "A0318", "A0321"),
    # "Already registered": success only for registration flows, which this adapter never runs.
    **_codes(Kind.REFUSED, "A0324", "A0325"),
}

# bank_rsp_code, spec §3.3 "Selected bank_rsp_code values" and §2.11.
BANK_RSP_CODES: dict[str, Kind] = {
    BANK_OK: Kind.SUCCESS,
    **_codes(Kind.ACCOUNT_UNKNOWN, "412", "415"),  # no such account, closed account
    **_codes(Kind.REFUSED, "416", "419", "420", "499", "815"),
    **_codes(Kind.REFUSED, "470", "471", "472", "473", "474", "475", "476", "477"),
    **_codes(Kind.CONSENT, "551", "555", "556"),  # user cancelled / unknown / not registered
}

# O0001 sub-codes (별첨4) carried as "[nnn]" in rsp_message, spec §3.2.
O0001_SUBCODES: dict[str, Kind] = {
    "992": Kind.CREDENTIALS,  # no Authorization: Bearer header (our bug)
    "3000103": Kind.CREDENTIALS,  # parameter missing or duplicated
    "3000201": Kind.CREDENTIALS,  # client_id unknown or bad client credentials
    "3000114": Kind.CREDENTIALS,  # redirect_uri differs from the registered callback
    "3000115": Kind.CREDENTIALS,  # scope not registered for the client
    "3000116": Kind.CREDENTIALS,  # unsupported response_type
    "3002110": Kind.CONSENT,  # code or refresh token spent/expired: log in again
}

RENEW_CODES = frozenset(code for code, kind in RSP_CODES.items() if kind is Kind.RENEW_TOKEN)
NO_HISTORY = "A0018"
PARTIAL = "A0009"
NO_RECORD = "A0310"
_SUBCODE = re.compile(r"\[(\d+)\]")


def subcode(message: str) -> str:
    """The O0001 sub-code in `rsp_message` ("인증요청 거부 [3002110]"), or ""."""
    found = _SUBCODE.search(message)
    return found.group(1) if found else ""


def rsp_kind(rsp_code: str, rsp_message: str = "") -> Kind | None:
    """The kind of an rsp_code (O0001 refined by its sub-code); None when the spec lists none."""
    code = rsp_code.strip().upper()
    kind = RSP_CODES.get(code)
    if code == "O0001":
        return O0001_SUBCODES.get(subcode(rsp_message), kind)
    return kind


def error_for(
    source: str,
    *,
    rsp_code: str,
    rsp_message: str = "",
    bank_rsp_code: str = "",
    bank_rsp_message: str = "",
    operation: Operation = "read",
    accept: Collection[str] = (),
) -> SourceError | None:
    """The domain error an answer means, or None for success. Total over every string.

    `accept` lists rsp_codes the caller reads itself (A0018 empty history, A0009 per-item results,
    A0310 no record). A bank half other than "000" fails an otherwise successful answer.
    """
    code = rsp_code.strip().upper()
    if code in accept:
        return None
    kind = rsp_kind(code, rsp_message)
    bank = bank_rsp_code.strip()
    if kind is Kind.SUCCESS:
        if not bank or bank == BANK_OK:
            return None
        kind = Kind.BANK
    text = " ".join(p for p in (code, rsp_message, bank and f"bank {bank}", bank_rsp_message) if p)
    return _error(source, kind, text or "empty answer", code or None, bank, operation)


def _error(
    source: str, kind: Kind | None, text: str, code: str | None, bank: str, operation: Operation
) -> SourceError:
    transfer = operation == "transfer"
    if kind is Kind.BANK:
        kind = BANK_RSP_CODES.get(bank)
        if kind in (None, Kind.SUCCESS):
            # An unlisted participant failure: an inquiry may work later; a transfer is a final
            # failure unless the participant says otherwise (spec §3.3 A0002).
            kind = Kind.REFUSED if transfer else Kind.RETRY
        code = f"{code}/{bank}" if bank else code
    if kind is None:
        # Not in the spec: never guess that money did not move.
        return (OutcomeUnknown if transfer else RequestRefused)(source, text, code=code)
    match kind:
        case Kind.RENEW_TOKEN:
            return TokenExpired(source, text, code=code)
        case Kind.CREDENTIALS:
            return AuthError(source, text, code=code)
        case Kind.CONSENT:
            return ConsentRequired(source, text, code=code)
        case Kind.QUOTA:
            return RateLimited(source, text, code=code)
        case Kind.RETRY:
            return SourceUnavailable(source, text, code=code)
        case Kind.UNKNOWN | Kind.DUPLICATE:
            return (OutcomeUnknown if transfer else SourceUnavailable)(source, text, code=code)
        case Kind.ACCOUNT_UNKNOWN:
            return AccountUnknown(source, text, code=code)
        case Kind.CONFIG:
            return RequestRefused(source, f"configuration: {text}", code=code)
        case _:
            # REFUSED, and the accept-only kinds arriving where nobody expects them.
            return RequestRefused(source, text, code=code)


def translator(
    source: str, *, operation: Operation = "read", accept: Collection[str] = ()
) -> Translate:
    """`translate` for ResilientClient.call: None for success, else the domain error.

    The body decides, whatever the HTTP status. A reply that is not JSON is left to the layer's
    status fallback when it is 4xx/5xx; an unreadable 2xx is unavailable, or after a transfer was
    sent, of unknown outcome. Token answers carry no rsp_code when they succeed (spec §1.3).
    """
    accepted = frozenset(accept)

    def translate(response: httpx.Response) -> SourceError | None:
        status = response.status_code
        try:
            envelope = Envelope.model_validate(parse_json(response.content))
        except (PayloadError, ValueError):
            if status >= 400:
                return None
            if operation == "transfer":
                return OutcomeUnknown(source, f"unreadable HTTP {status} reply to a transfer")
            return SourceUnavailable(source, f"unreadable HTTP {status} reply")
        if not envelope.rsp_code:
            if operation == "token" or status >= 400:
                return None  # token success has no envelope; a 4xx/5xx falls back by status
            if operation == "transfer":
                return OutcomeUnknown(source, "reply to a transfer without rsp_code")
            return SourceUnavailable(source, "reply without rsp_code")
        return error_for(
            source,
            rsp_code=envelope.rsp_code,
            rsp_message=envelope.rsp_message,
            bank_rsp_code=envelope.bank_rsp_code,
            bank_rsp_message=envelope.bank_rsp_message,
            operation=operation,
            accept=accepted,
        )

    return translate


def redirect_translator(source: str) -> Translate:
    """`translate` for the authorize URL: a 302 to our callback is the answer we want."""

    def translate(response: httpx.Response) -> SourceError | None:
        if response.is_redirect:
            return None
        if response.status_code == 400:
            # The relay renders an HTML page when it cannot redirect: unknown client or a
            # redirect_uri other than the registered callback (spec §1.1, O0001 [3000114]).
            return AuthError(source, "authorize refused: check client_id and redirect_uri")
        if response.status_code >= 400:
            return None
        return RequestRefused(source, f"authorize answered HTTP {response.status_code}")

    return translate


def boundary(source: str, *, write: bool = False) -> AbstractContextManager[None]:
    """Re-raise what is left after the layer as domain errors named after `source`.

    Domain errors pass through. A reply we cannot read becomes SourceUnavailable, or after a
    transfer was sent OutcomeUnknown (the relay may have booked it).
    """
    return reply_boundary(source, unknown=OutcomeUnknown if write else None, sent="transfer")
