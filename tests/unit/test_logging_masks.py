from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
import structlog
from pydantic import SecretStr

from orchestrator.logging import configure_logging, mask_name, mask_number

TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.sig-abcdef123456"
APP_KEY = "PSabcdefghijklmnopqrstuvwxyz0123456789"
ACCOUNT = "123-456789-01-234"
FINTECH = "120250310000000000240001"
NAME = "홍길동"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("DEBUG", "json", stream=stream)
    yield stream
    structlog.reset_defaults()


def _secrets_absent(text: str, *present: str) -> None:
    """No secret in `text`, and `text` really holds the line (an empty log would pass too)."""
    assert text.strip(), "nothing was logged: the test would pass on silence"
    for needle in present:
        assert needle in text, f"{needle!r} missing from {text!r}"
    for secret in (TOKEN, APP_KEY, "sig-abcdef123456", "456789", FINTECH[:20], NAME):
        assert secret not in text, f"{secret!r} leaked into {text!r}"


def test_nested_secrets_and_personal_data_are_masked(captured: io.StringIO) -> None:
    """Tokens, app keys, account numbers and names are scrubbed at any depth."""
    log = structlog.get_logger("test")

    log.info(
        "kis.request_sent",
        request={
            "headers": {"Authorization": f"Bearer {TOKEN}", "appkey": APP_KEY},
            "body": {
                "CANO": ACCOUNT,
                "accounts": [{"fintech_use_num": FINTECH, "account_holder_name": NAME}],
            },
        },
        access_token=TOKEN,
        secret=SecretStr("hunter2"),
    )

    out = captured.getvalue()
    _secrets_absent(out, "kis.request_sent", "Authorization")
    assert "hunter2" not in out
    record = json.loads(out)
    assert record["request"]["body"]["CANO"].endswith("1234")
    assert record["request"]["body"]["accounts"][0]["fintech_use_num"].endswith("0001")
    assert record["request"]["body"]["accounts"][0]["account_holder_name"] == mask_name(NAME)


def test_free_text_and_exceptions_are_masked(captured: io.StringIO) -> None:
    """Secrets inside messages, URLs and tracebacks are scrubbed too."""
    log = structlog.get_logger("test")

    try:
        raise RuntimeError(
            f"GET /v2.0/account/balance?fintech_use_num={FINTECH} access_token={TOKEN}"
        )
    except RuntimeError:
        log.exception("openbanking.read_failed", url=f"https://x/?account={ACCOUNT}")

    _secrets_absent(
        captured.getvalue(), "openbanking.read_failed", "RuntimeError", "fintech_use_num="
    )


def test_stdlib_logging_goes_through_the_mask(captured: io.StringIO) -> None:
    """Third-party libraries logging via stdlib are masked as well."""
    import logging

    logging.getLogger("somelib").warning("Authorization: Bearer %s for %s", TOKEN, ACCOUNT)

    _secrets_absent(captured.getvalue(), "Authorization: Bearer", "1234")


def test_timestamps_and_dates_stay_readable(captured: io.StringIO) -> None:
    """Masking does not eat timestamps or ISO dates."""
    structlog.get_logger("test").info("job.ran", day="2026-11-23", count=12)

    record = json.loads(captured.getvalue())
    assert record["day"] == "2026-11-23"
    assert record["timestamp"].startswith("20")
    assert record["count"] == 12


def test_mask_helpers() -> None:
    """Account numbers keep their last 4 digits; names keep their first character."""
    assert mask_number("123-45-678901") == "*******8901"
    assert mask_name("김데모") == "김**"
