"""errors.py maps every code the spec lists, and anything else, to the domain error tree."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.openbanking.errors import (
    BANK_RSP_CODES,
    O0001_SUBCODES,
    RSP_CODES,
    Kind,
    error_for,
    translator,
)
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

# Copied from the spec (§3.2 O-codes, §3.3 A-codes and bank_rsp_codes, §2.11), not from errors.py.
SPEC_RSP_CODES = (
    [f"O{n:04d}" for n in range(1, 12)]
    + [f"A{n:04d}" for n in range(22)]
    + ["A0101", "A0102", "A0103", "A0104", "A0105", "A0106", "A0111", "A0112"]
    + [f"A{n:04d}" for n in range(301, 328)]
)
SPEC_BANK_CODES = ["000", "412", "415", "416", "419", "420", "499", "815"] + [
    str(n) for n in range(470, 478)
] + ["551", "555", "556"]  # fmt: skip
SPEC_O0001_SUBCODES = ["992", "3000103", "3000201", "3000114", "3000115", "3000116", "3002110"]
OPERATIONS = ("read", "transfer", "token")


def test_every_spec_code_has_a_row() -> None:
    """The tables cover every rsp_code, bank_rsp_code and O0001 sub-code the spec lists."""
    assert set(SPEC_RSP_CODES) <= set(RSP_CODES)
    assert set(SPEC_BANK_CODES) <= set(BANK_RSP_CODES)
    assert set(SPEC_O0001_SUBCODES) <= set(O0001_SUBCODES)


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("code", SPEC_RSP_CODES)
def test_every_rsp_code_maps_to_success_or_a_domain_error(code: str, operation: str) -> None:
    """Each listed rsp_code yields None (A0000 only) or a SourceError, for every operation."""
    error = error_for("ob", rsp_code=code, rsp_message="m", operation=operation)  # type: ignore[arg-type]

    if code == "A0000":
        assert error is None
    else:
        assert isinstance(error, SourceError)
        assert error.code is not None
        assert error.code.startswith(code)


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("bank", SPEC_BANK_CODES)
def test_every_bank_code_decides_a0002_and_a_successful_envelope(bank: str, operation: str) -> None:
    """A bank_rsp_code other than 000 fails both A0002 and an A0000 answer."""
    for code in ("A0000", "A0002"):
        error = error_for("ob", rsp_code=code, bank_rsp_code=bank, operation=operation)  # type: ignore[arg-type]

        if bank == "000" and code == "A0000":
            assert error is None
        else:
            assert isinstance(error, SourceError)


@given(code=st.text(max_size=8), bank=st.text(max_size=4), message=st.text(max_size=30))
def test_error_for_is_total(code: str, bank: str, message: str) -> None:
    """Any strings at all give None or a SourceError; nothing else escapes."""
    for operation in OPERATIONS:
        error = error_for(
            "ob",
            rsp_code=code,
            rsp_message=message,
            bank_rsp_code=bank,
            operation=operation,  # type: ignore[arg-type]
        )
        assert error is None or isinstance(error, SourceError)


@pytest.mark.parametrize(
    ("code", "message", "bank", "operation", "expected"),
    [
        ("O0003", "", "", "read", TokenExpired),
        ("O0002", "", "", "read", TokenExpired),
        ("O0001", "인증요청 거부 [3002110]", "", "token", ConsentRequired),
        ("O0001", "인증요청 거부 [3000201]", "", "token", AuthError),
        ("O0008", "", "", "read", RateLimited),
        ("O0007", "", "", "read", SourceUnavailable),
        ("A0020", "", "", "read", SourceUnavailable),
        ("A0003", "", "", "read", SourceUnavailable),
        ("A0003", "", "", "transfer", OutcomeUnknown),
        ("A0001", "", "", "transfer", OutcomeUnknown),
        ("A0007", "", "", "transfer", OutcomeUnknown),
        ("A0326", "", "", "read", SourceUnavailable),
        ("A0326", "", "", "transfer", OutcomeUnknown),
        ("A0305", "", "", "read", ConsentRequired),
        ("A0304", "", "", "read", AccountUnknown),
        ("A0004", "", "", "read", RequestRefused),
        ("A0106", "", "", "transfer", RequestRefused),
        ("A0002", "", "412", "read", AccountUnknown),
        ("A0002", "", "419", "read", RequestRefused),
        ("A0002", "", "", "read", SourceUnavailable),
        ("A0002", "", "", "transfer", RequestRefused),
        ("Z9999", "", "", "read", RequestRefused),
        ("Z9999", "", "", "transfer", OutcomeUnknown),
    ],
)
def test_codes_mean_what_the_caller_must_do(
    code: str, message: str, bank: str, operation: str, expected: type[SourceError]
) -> None:
    """Reads retry what transfers must resolve; unknown codes never pretend money did not move."""
    error = error_for(
        "ob",
        rsp_code=code,
        rsp_message=message,
        bank_rsp_code=bank,
        operation=operation,  # type: ignore[arg-type]
    )

    assert type(error) is expected


def test_retryable_kinds_are_retryable_for_reads_only() -> None:
    """Inquiry errors worth retrying are marked so; the same codes on a transfer never are."""
    for code, kind in RSP_CODES.items():
        read = error_for("ob", rsp_code=code, operation="read")
        write = error_for("ob", rsp_code=code, operation="transfer")
        if kind in (Kind.UNKNOWN, Kind.DUPLICATE, Kind.RETRY, Kind.QUOTA):
            assert read is not None
            assert read.retryable
        if kind in (Kind.UNKNOWN, Kind.DUPLICATE):
            assert isinstance(write, OutcomeUnknown)
            assert not write.retryable


def test_accepted_codes_are_left_to_the_caller() -> None:
    """A0018, A0009 and A0310 pass when the call says it reads them itself."""
    assert error_for("ob", rsp_code="A0018", accept=("A0018",)) is None
    assert isinstance(error_for("ob", rsp_code="A0018"), RequestRefused)


def test_translator_reads_the_body_not_the_status() -> None:
    """HTTP 200 with an error code is an error; unreadable 2xx after a transfer is unknown."""
    read = translator("ob")
    transfer = translator("ob", operation="transfer")
    token = translator("ob", operation="token")

    assert isinstance(read(httpx.Response(200, json={"rsp_code": "O0003"})), AuthError)
    assert read(httpx.Response(200, json={"rsp_code": "A0000"})) is None
    assert read(httpx.Response(503, text="<html>")) is None  # left to the layer's status rule
    assert isinstance(read(httpx.Response(200, text="<html>")), SourceUnavailable)
    assert isinstance(transfer(httpx.Response(200, text="")), OutcomeUnknown)
    assert token(httpx.Response(200, json={"access_token": "t", "expires_in": 1})) is None
