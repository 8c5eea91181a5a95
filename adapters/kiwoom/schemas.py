"""Pydantic models of Kiwoom payloads: every scalar a string, unknown fields kept.

Kiwoom writes numbers as strings (zero-padded, signed), grows records over time and leaves
fields out; so scalars become strings ("" when missing), extras are allowed, and conversion to
Decimal/int/datetime happens in mapping.py.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

JsonObject = dict[str, Any]


class PayloadError(ValueError):
    """The reply is not the JSON object Kiwoom sends."""


def parse_json(content: bytes) -> JsonObject:
    try:
        data = json.loads(content or b"null", parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as e:
        raise PayloadError("reply is not JSON") from e
    if not isinstance(data, dict):
        raise PayloadError("reply is not a JSON object")
    return data


class VendorModel(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _string(cls, value: object) -> object:
        if value is None:
            return ""
        if isinstance(value, int | Decimal | float) and not isinstance(value, bool):
            return str(value)
        return value

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> Self:
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            raise PayloadError(f"{cls.__name__}: {e.error_count()} unreadable field(s)") from e


class Envelope(VendorModel):
    return_code: str = ""
    return_msg: str = ""


class TokenReply(VendorModel):
    token: str = ""
    token_type: str = ""
    expires_dt: str = ""


class AccountNumberReply(VendorModel):
    acctNo: str = ""


class OrderReply(VendorModel):
    ord_no: str = ""
    base_orig_ord_no: str = ""
    dmst_stex_tp: str = ""


class BalanceRow(VendorModel):
    stk_cd: str = ""
    stk_nm: str = ""
    rmnd_qty: str = ""
    trde_able_qty: str = ""
    pur_pric: str = ""
    cur_prc: str = ""
    evlt_amt: str = ""
    pur_amt: str = ""


class BuyingPowerReply(VendorModel):
    entr: str = ""
    d2entra: str = ""
    ord_alowa: str = ""
    wthd_alowa: str = ""


class HistoryRow(VendorModel):
    ord_no: str = ""
    ori_ord: str = ""
    stk_cd: str = ""
    ord_qty: str = ""
    ord_uv: str = ""
    cntr_qty: str = ""
    cntr_uv: str = ""
    ord_remnq: str = ""
    mdfy_cncl: str = ""
    ord_tm: str = ""
    io_tp_nm: str = ""


class OpenOrderRow(VendorModel):
    ord_no: str = ""
    orig_ord_no: str = ""
    stk_cd: str = ""
    ord_qty: str = ""
    ord_pric: str = ""
    oso_qty: str = ""
    cntr_qty: str = ""
    cntr_pric: str = ""
    io_tp_nm: str = ""
    trde_tp: str = ""
    tm: str = ""


class QuoteReply(VendorModel):
    stk_cd: str = ""
    stk_nm: str = ""
    cur_prc: str = ""
