"""What a handler gets (the checked request) and gives back (body, paging, whether it booked)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from adapters.sandbox.kiwoom import errors
from adapters.sandbox.kiwoom.state import Account, KiwoomState

OK: dict[str, object] = {"return_code": 0, "return_msg": errors.OK_MSG}


@dataclass(frozen=True, slots=True)
class Call:
    state: KiwoomState
    appkey: str
    account: Account
    api_id: str
    body: Mapping[str, object]
    cont_yn: str = ""
    next_key: str = ""

    def text(self, name: str, *, required: bool = True) -> str:
        """A body field as a stripped string; 1511 when required and missing or blank."""
        value = self.body.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise errors.fail(errors.MISSING_FIELD)
            return ""
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise errors.fail(errors.BAD_INPUT)
        return str(value).strip()

    def number(self, name: str, *, required: bool = True, positive: bool = False) -> int:
        text = self.text(name, required=required)
        if not text:
            return 0
        if not text.isdigit():
            raise errors.fail(errors.BAD_INPUT)
        value = int(text)
        if positive and value <= 0:
            raise errors.fail(errors.BAD_INPUT)
        return value

    def choice(self, name: str, allowed: Sequence[str], *, required: bool = True) -> str:
        text = self.text(name, required=required)
        if text and text not in allowed:
            raise errors.fail(errors.BAD_INPUT)
        return text


@dataclass(frozen=True, slots=True)
class Reply:
    body: dict[str, object]
    cont_yn: str = "N"
    next_key: str = ""
    booked: bool = False


def page(
    call: Call, rows: Sequence[Mapping[str, object]]
) -> tuple[list[Mapping[str, object]], str, str]:
    """This request's page of `rows` and the `cont-yn`/`next-key` to answer with.

    `next-key` is opaque to clients (the api-id and an offset); a client continues by sending
    `cont-yn: Y` and the key back unchanged.
    """
    start = 0
    if call.cont_yn == "Y":
        key = call.next_key
        if not (key.startswith(call.api_id) and key[len(call.api_id) :].isdigit()):
            raise errors.fail(errors.BAD_INPUT)
        start = int(key[len(call.api_id) :])
    size = call.state.page_size
    chunk = list(rows[start : start + size])
    end = start + size
    if end < len(rows):
        return chunk, "Y", f"{call.api_id}{end:010d}"
    return chunk, "N", ""


def ok(fields: Mapping[str, object], msg: str = errors.OK_MSG) -> dict[str, object]:
    return {**fields, "return_code": 0, "return_msg": msg}


def account_of(state: KiwoomState, number: str) -> Account:
    return state.accounts[number]
