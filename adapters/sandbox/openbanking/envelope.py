"""The relay's response envelope and its error signalling (spec §3.1, §7.4).

Every relay answer, success or failure, is HTTP 200 with ``rsp_code``; per-account APIs add the
participant ("bank") half. Handlers raise :class:`RelayError` and the app turns it into that shape.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.responses import JSONResponse

from . import codes
from .formats import fmt_date, fmt_dtm


@dataclass(frozen=True)
class BankPart:
    """The participant half of the envelope for one bank-level exchange."""

    bank_tran_id: str
    bank_tran_date: str
    bank_code_tran: str
    bank_rsp_code: str = codes.BANK_OK
    bank_rsp_message: str = ""

    @classmethod
    def answer(
        cls, bank_tran_id: str, now: datetime, bank_code_tran: str, bank_rsp_code: str
    ) -> BankPart:
        return cls(
            bank_tran_id=bank_tran_id,
            bank_tran_date=fmt_date(now),
            bank_code_tran=bank_code_tran,
            bank_rsp_code=bank_rsp_code,
            bank_rsp_message=codes.BANK_RSP_MESSAGES.get(bank_rsp_code, ""),
        )

    def as_fields(self) -> dict[str, str]:
        return {
            "bank_tran_id": self.bank_tran_id,
            "bank_tran_date": self.bank_tran_date,
            "bank_code_tran": self.bank_code_tran,
            "bank_rsp_code": self.bank_rsp_code,
            "bank_rsp_message": self.bank_rsp_message,
        }


class RelayError(Exception):
    """A non-A0000 answer. ``detail`` lands in ``rsp_message`` brackets, as the relay does."""

    def __init__(
        self,
        rsp_code: str,
        detail: str | None = None,
        *,
        message: str | None = None,
        bank: BankPart | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        self.rsp_code = rsp_code
        self.rsp_message = message if message is not None else codes.rsp_message(rsp_code, detail)
        self.bank = bank
        self.extra = dict(extra or {})
        super().__init__(f"{rsp_code} {self.rsp_message}")


def api_part(now: datetime, rsp_code: str = codes.A_OK, rsp_message: str = "") -> dict[str, Any]:
    return {
        "api_tran_id": str(uuid.uuid4()),
        "api_tran_dtm": fmt_dtm(now),
        "rsp_code": rsp_code,
        "rsp_message": rsp_message,
    }


def relay_json(body: Mapping[str, Any]) -> JSONResponse:
    # Korean text stays readable (Starlette does not escape non-ASCII); the charset is explicit
    # because KFTC clients are told to send and expect UTF-8.
    return JSONResponse(dict(body), media_type="application/json; charset=UTF-8")


def success(now: datetime, fields: Mapping[str, Any], bank: BankPart | None = None) -> JSONResponse:
    body = api_part(now)
    if bank is not None:
        body.update(bank.as_fields())
    body.update(fields)
    return relay_json(body)


def error_response(now: datetime, error: RelayError) -> JSONResponse:
    body = api_part(now, error.rsp_code, error.rsp_message)
    if error.bank is not None:
        body.update(error.bank.as_fields())
    body.update(error.extra)
    return relay_json(body)
