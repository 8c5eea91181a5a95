"""The KIS code map: total over every code the spec lists, and over anything else KIS may send."""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.kis.errors import (
    CODES,
    Kind,
    PageDataChanged,
    TokenThrottled,
    classify,
    error_for,
    translator,
)
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

# Every code named in shared/specs/kis-openapi.md §2.1, §4, §5, §6 and §9 (ranges expanded).
SPEC_CODES: tuple[str, ...] = (
    "APBK0013", "APBK2938", "40600000", "40590000", "40630000", "KIOK0510", "KIOK0460",
    "KIOK0420", "MCA00000", "20310000",
    "EGW00001", "EGW00002", "EGW00003",
    *(f"EGW00{n}" for n in range(101, 116)),
    "EGW00121", "EGW00122", "EGW00123", "EGW00131", "EGW00132", "EGW00133", "EGW00201",
    "EGW00215", "EGW00202", "EGW00203", "EGW00300", "EGW00204", "EGW00205", "EGW00206",
    "EGW00207", "EGW00208", "EGW00210", "EGW00213", "EGW02004", "EGW02006", "EGW02007",
    "OPSQ0001", "OPSQ0010", "OPSQ0011", "OPSQ1002", "OPSQ2000", "OPSQ2001", "OPSQ2002",
    *(f"OPSQ{n}" for n in range(9995, 10000)),
    "MCA00124", "IGW00009", "SYDB0050",
    "APBK0918", "KIOK0320", "APBK0919", "APBK0952", "APBK0656", "APBK0506", "APBK3013",
    "40330000", "40570000", "90000000",
    "OPSP0000", "OPSP0001", "OPSP0002", "OPSP0003", "OPSP0007", "OPSP0008", "OPSP8996",
    *(f"OPSP{n}" for n in range(8992, 10000)),
)  # fmt: skip

# What a caller may see from a read, and from an order (port contract + AuthError).
READ_ERRORS = (SourceUnavailable, AuthError, RequestRefused, AccountUnknown, PageDataChanged)
ORDER_ERRORS = (RateLimited, AuthError, OrderRejected, OrderOutcomeUnknown)


def _reply(status: int, body: object) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(body).encode())


def test_every_spec_code_has_a_row() -> None:
    """The table names every code of the spec explicitly (no code left to the fallback)."""
    assert [code for code in SPEC_CODES if code not in CODES] == []


@pytest.mark.parametrize(
    ("code", "status", "read", "order"),
    [
        ("EGW00201", 500, RateLimited, RateLimited),
        ("EGW00215", 500, RateLimited, RateLimited),
        ("EGW00123", 500, TokenExpired, TokenExpired),
        ("EGW00121", 500, TokenExpired, TokenExpired),
        ("EGW02004", 500, AuthError, AuthError),
        ("EGW00133", 403, TokenThrottled, TokenThrottled),
        ("EGW00001", 500, SourceUnavailable, OrderOutcomeUnknown),
        ("OPSQ0010", 200, SourceUnavailable, OrderOutcomeUnknown),
        ("APBK0952", 200, RequestRefused, OrderRejected),
        ("APBK0918", 200, RequestRefused, OrderRejected),
        ("40580000", 200, RequestRefused, OrderRejected),
        ("OPSQ2001", 200, RequestRefused, OrderRejected),
        ("EGW02006", 500, RequestRefused, OrderRejected),
        ("OPSQ2000", 200, AccountUnknown, OrderRejected),
        ("SYDB0050", 200, PageDataChanged, OrderOutcomeUnknown),
        ("ZZZZ9999", 200, RequestRefused, OrderRejected),
        ("ZZZZ9999", 503, SourceUnavailable, OrderOutcomeUnknown),
    ],
)
def test_codes_map_by_vendor_code(
    code: str, status: int, read: type[SourceError], order: type[SourceError]
) -> None:
    """Each code becomes the error its caller acts on, for reads and for orders."""
    as_read = error_for("kis", code, "msg", status)
    as_order = error_for("kis", code, "msg", status, sending_order=True)

    assert type(as_read) is read
    assert type(as_order) is order
    assert as_read.code == code


def test_rate_limit_is_told_apart_from_a_server_error_by_code_not_status() -> None:
    """Both are HTTP 500: EGW00201 may be resent, EGW00001 after an order is unknown."""
    translate = translator("kis", sending_order=True)

    limited = translate(_reply(500, {"rt_cd": "1", "msg_cd": "EGW00201", "msg1": "초당"}))
    broken = translate(_reply(500, {"rt_cd": "1", "msg_cd": "EGW00001", "msg1": "일시적"}))

    assert isinstance(limited, RateLimited)
    assert isinstance(broken, OrderOutcomeUnknown)


def test_account_check_text_means_unknown_account() -> None:
    """OPSQ2001 INVALID_CHECK_ACNO names the account: AccountUnknown, not a generic refusal."""
    error = error_for("kis", "OPSQ2001", "ERROR : INPUT INVALID_CHECK_ACNO", 200)

    assert isinstance(error, AccountUnknown)


def test_success_replies_and_oauth_shapes() -> None:
    """rt_cd "0" and the flat OAuth success shape are success; OAuth errors are read too."""
    translate = translator("kis")

    assert translate(_reply(200, {"rt_cd": "0", "msg_cd": "KIOK0510", "msg1": "ok"})) is None
    assert translate(_reply(200, {"access_token": "x", "expires_in": 86400})) is None
    throttled = translate(_reply(403, {"error_code": "EGW00133", "error_description": "1분당 1회"}))
    assert isinstance(throttled, TokenThrottled)
    assert throttled.retry_after == 60.0
    assert not throttled.retryable


def test_unreadable_replies() -> None:
    """A 2xx that is not JSON: unavailable for reads, outcome unknown for orders."""
    garbage = httpx.Response(200, content=b"<html>oops</html>")

    assert isinstance(translator("kis")(garbage), SourceUnavailable)
    assert isinstance(translator("kis", sending_order=True)(garbage), OrderOutcomeUnknown)
    assert translator("kis")(httpx.Response(502, content=b"<html>")) is None  # layer: by status


@given(code=st.text(max_size=12), status=st.integers(100, 599), message=st.text(max_size=40))
def test_classify_is_total(code: str, status: int, message: str) -> None:
    """Any code and status classifies to a failure kind, and errors stay inside the contract."""
    kind = classify(code, status, message)
    as_read = error_for("kis", code, message, status)
    as_order = error_for("kis", code, message, status, sending_order=True)

    assert kind is not Kind.SUCCESS
    assert isinstance(as_read, READ_ERRORS)
    assert isinstance(as_order, ORDER_ERRORS)


@given(
    status=st.integers(100, 599),
    body=st.one_of(
        st.binary(max_size=64),
        st.dictionaries(
            st.sampled_from(["rt_cd", "msg_cd", "msg1", "error_code", "output", "x"]),
            st.one_of(st.none(), st.integers(), st.text(max_size=8), st.lists(st.integers())),
        ).map(lambda d: json.dumps(d).encode()),
    ),
)
def test_translate_never_raises(status: int, body: bytes) -> None:
    """Whatever KIS (or a proxy) answers, translate returns None or a domain error."""
    for sending_order in (False, True):
        result = translator("kis", sending_order=sending_order)(
            httpx.Response(status, content=body)
        )
        assert result is None or isinstance(result, SourceError)
