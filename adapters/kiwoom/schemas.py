"""Pydantic models of Kiwoom payloads: every scalar a string, unknown fields kept.

Kiwoom writes numbers as strings (zero-padded, signed), grows records over time and leaves
fields out; so, on the shared tolerant base (`adapters/http/payloads.py`), scalars become
strings ("" when missing), extras are allowed, and conversion to Decimal/int/datetime happens in
mapping.py.
"""

from __future__ import annotations

from adapters.http.payloads import JsonObject, PayloadError, TolerantModel, parse_json

__all__ = ["JsonObject", "PayloadError", "parse_json"]  # read with the models by client and tests


class VendorModel(TolerantModel):
    """Base of every Kiwoom model: keys as sent (Kiwoom mixes `acctNo` and `ord_no`), every
    scalar a string, extras kept."""


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
