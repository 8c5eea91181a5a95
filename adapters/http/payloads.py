"""Reading vendor replies tolerantly: the base of every vendor's `schemas.py`, and the one rule
for a reply that cannot be used.

Vendors send numbers as strings (or not), leave fields out, send `null`, and grow records over
time. So a wire model holds every scalar as text ("" when missing or null), allows what it does
not declare, and turns nothing into Decimal/int/datetime: that is the vendor's `mapping.py`. A
reply that cannot be read at all is a `PayloadError`, never a pydantic `ValidationError`, and the
vendor's error boundary (`reply_boundary`) turns it into the domain error its caller acts on.

Each vendor keeps what is its own through hooks: key casing (`_key`), value quirks (`_text`),
documented shape variations (`_reshape`) and whether a model keeps the payload (`keep_raw`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, ClassVar, Self

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from orchestrator.domain.errors import SourceError, SourceUnavailable

JsonObject = dict[str, Any]


class PayloadError(ValueError):
    """The reply is not the JSON object its vendor sends, or cannot be read as its model."""


def parse_json(content: bytes) -> JsonObject:
    """A reply body as a dict; fractions stay exact (Decimal). Raises PayloadError otherwise."""
    try:
        data = json.loads(content or b"null", parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as e:
        raise PayloadError("reply is not JSON") from e
    if not isinstance(data, dict):
        raise PayloadError("reply is not a JSON object")
    return data


def as_text(value: object) -> object:
    """A JSON scalar as the text a vendor model holds: null is "", a number its digits; booleans,
    strings, lists and objects pass unchanged."""
    if value is None:
        return ""
    if isinstance(value, int | Decimal | float) and not isinstance(value, bool):
        return str(value)
    return value


class TolerantModel(BaseModel):
    """Base of vendor wire models: scalars as text, undeclared fields allowed, never raising
    ValidationError from `parse`."""

    model_config = ConfigDict(extra="allow", frozen=True)

    # Models that keep the payload they came from declare a `raw` field and set this.
    keep_raw: ClassVar[bool] = False

    @model_validator(mode="before")
    @classmethod
    def _tolerate(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        out: dict[str, object] = {
            cls._key(str(key)): cls._text(str(key), value) for key, value in data.items()
        }
        out = cls._reshape(out)
        if cls.keep_raw:
            out["raw"] = dict(data)
        return out

    @classmethod
    def _key(cls, key: str) -> str:
        """The key as the model declares it (a vendor that varies casing folds it here)."""
        return key

    @classmethod
    def _text(cls, key: str, value: object) -> object:
        """One value as the model holds it; `key` is as sent."""
        return as_text(value)

    @classmethod
    def _reshape(cls, data: dict[str, object]) -> dict[str, object]:
        """Subclasses fix documented shape variations here (keys and values already read)."""
        return data

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> Self:
        """Validate `data`; PayloadError (never ValidationError) when it cannot be read at all."""
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            raise PayloadError(f"{cls.__name__}: {e.error_count()} unreadable field(s)") from e


Unknown = Callable[[str, str], SourceError]


@contextmanager
def reply_boundary(
    source: str, *, unknown: Unknown | None = None, sent: str = ""
) -> Iterator[None]:
    """Re-raise what is left after the resilient layer as domain errors named after `source`.

    Domain errors pass through. A reply that cannot be used (unreadable payload, a value mapping
    could not convert, an httpx error the layer does not translate) is SourceUnavailable; after
    a write the upstream may have acted on (`unknown` given), it is that outcome-unknown error
    instead, so the caller settles it rather than sending again.
    """
    try:
        yield
    except SourceError:
        raise
    except (PayloadError, httpx.HTTPError, ArithmeticError, ValueError) as e:
        what = type(e).__name__
        if unknown is not None:
            raise unknown(source, f"{sent} reply unusable ({what})".strip()) from e
        raise SourceUnavailable(source, f"reply unusable ({what})") from e
