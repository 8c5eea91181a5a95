"""Reading request fields the way KIS checks them (spec §3 body/parameter conventions).

POST bodies must use UPPERCASE keys and string values ("ORD_QTY": "1"); a missing or
malformed field is OPSQ2001 "ERROR : INPUT INVALID_CHECK_<FIELD>". Query names are matched
case-insensitively, since clients send `ctx_area_fk100` in lowercase and it works.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date

from adapters.sandbox.kis import errors


class Params:
    """Validated access to the fields of one request."""

    def __init__(self, values: Mapping[str, object], *, case_insensitive: bool = False) -> None:
        self._values = (
            {key.upper(): value for key, value in values.items()} if case_insensitive else values
        )

    def text(
        self, name: str, *, required: bool = True, choices: Collection[str] | None = None
    ) -> str:
        value = self._values.get(name)
        if value is None:
            if required:
                raise errors.invalid_input(name)
            return ""
        if not isinstance(value, str):
            raise errors.invalid_input(name)  # numbers too travel as strings
        if choices is not None and value not in choices:
            raise errors.invalid_input(name)
        return value

    def number(self, name: str, *, required: bool = True) -> int:
        """A non-negative integer sent as a digit string; blank counts as zero."""
        value = self.text(name, required=required).strip()
        if value == "":
            if required:
                raise errors.invalid_input(name)
            return 0
        if not value.isdigit():
            raise errors.invalid_input(name)
        return int(value)

    def day(self, name: str) -> date:
        value = self.text(name)
        if len(value) != 8 or not value.isdigit():
            raise errors.invalid_input(name)
        try:
            return date.fromisoformat(value)  # YYYYMMDD is ISO 8601 basic format
        except ValueError:
            raise errors.invalid_input(name) from None
