"""The vendors' shared tolerant reading (adapters/http/payloads.py), apart from any vendor."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from adapters.http.payloads import PayloadError, TolerantModel, parse_json, reply_boundary
from orchestrator.domain.errors import OrderOutcomeUnknown, RateLimited, SourceUnavailable


class Row(TolerantModel):
    qty: str = ""
    price: str = ""
    rows: list[str] = []  # noqa: RUF012  (pydantic copies defaults)


def test_scalars_become_text_missing_and_null_are_empty_extras_are_kept() -> None:
    row = Row.parse(parse_json(b'{"qty": 10, "price": 70100.50, "rows": [], "new_field": null}'))
    assert (row.qty, row.price) == ("10", "70100.50")  # the fraction stays exact, as sent
    assert row.model_extra == {"new_field": ""}
    assert Row.parse({}).qty == ""


def test_unreadable_replies_are_payload_errors_never_validation_errors() -> None:
    for body in (b"<html>", b"[1, 2]", b""):
        with pytest.raises(PayloadError):
            parse_json(body)
    with pytest.raises(PayloadError, match="Row: 1 unreadable field"):
        Row.parse({"rows": "not a list"})


def test_parse_json_keeps_fractions_exact() -> None:
    assert parse_json(b'{"a": 0.1}') == {"a": Decimal("0.1")}


def test_boundary_unusable_reply_is_unavailable_or_unknown_after_a_write() -> None:
    unusable = pytest.raises(SourceUnavailable, match=r"reply unusable \(PayloadError\)")
    with unusable, reply_boundary("v"):
        raise PayloadError("x")
    unknown = pytest.raises(OrderOutcomeUnknown, match=r"order reply unusable \(DecodingError\)")
    with unknown, reply_boundary("v", unknown=OrderOutcomeUnknown, sent="order"):
        raise httpx.DecodingError("bad gzip")
    # Domain errors pass through untouched.
    with pytest.raises(RateLimited), reply_boundary("v", unknown=OrderOutcomeUnknown):
        raise RateLimited("v", "EGW00201")
