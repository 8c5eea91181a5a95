"""Pydantic models of KIS payloads: tolerant of unknown, missing and oddly cased fields.

KIS sends every value as a string (spec §3, §5), sometimes cases keys differently between the
workbook and the wire (`ODNO` vs `odno`, `excg_id_dvsn_Cd`; spec §4.2, §4.4) and grows records
over time. So on the shared tolerant base (`adapters/http/payloads.py`) keys are matched
case-insensitively (stored lowercase), every scalar becomes a string ("" when missing or null),
unknown fields are kept, and each model keeps the payload it was parsed from in `raw`.
Conversion to Decimal/int/datetime happens in mapping.py.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field

from adapters.http.payloads import JsonObject, PayloadError, TolerantModel, as_text, parse_json

__all__ = ["JsonObject", "PayloadError", "parse_json"]  # read with the models by client and tests


class VendorModel(TolerantModel):
    """Base of every KIS model: lowercase keys, string scalars (Y/N for booleans), extras kept,
    the payload kept in `raw`."""

    keep_raw = True
    raw: JsonObject = Field(default_factory=dict, exclude=True, repr=False)

    @classmethod
    def _key(cls, key: str) -> str:
        return key.lower()

    @classmethod
    def _text(cls, key: str, value: object) -> object:
        if isinstance(value, bool):
            return "Y" if value else "N"
        return as_text(value)


def _first(value: object) -> object:
    """An object documented as a one-element array (or the other way round): its first item."""
    if isinstance(value, list):
        return value[0] if value else None
    return value or None


def _as_list(value: object) -> object:
    if value in (None, ""):
        return []
    if isinstance(value, Mapping):
        return [value]
    return value


class Envelope(VendorModel):
    """The common reply shape (spec §5), and the OAuth error shape folded into it (spec §2.1)."""

    rt_cd: str = ""
    msg_cd: str = ""
    msg1: str = ""
    error_code: str = ""
    error_description: str = ""

    @property
    def code(self) -> str:
        return (self.msg_cd or self.error_code).strip()

    @property
    def message(self) -> str:
        return (self.msg1 or self.error_description).strip()

    @property
    def ok(self) -> bool:
        return self.rt_cd.strip() == "0"


class TokenReply(Envelope):
    """POST /oauth2/tokenP (spec §2.1): a flat object, no rt_cd."""

    access_token: str = ""
    token_type: str = ""
    expires_in: str = ""
    access_token_token_expired: str = ""


class HashkeyReply(Envelope):
    """POST /uapi/hashkey (spec §2.3): {"BODY": {...}, "HASH": "<64 hex>"}."""

    hash: str = ""


class OrderOutput(VendorModel):
    """order-cash / order-rvsecncl `output` (spec §4.1, §4.2)."""

    krx_fwdg_ord_orgno: str = ""
    odno: str = ""
    ord_tmd: str = ""


class OrderReply(Envelope):
    output: OrderOutput | None = None

    @classmethod
    def _reshape(cls, data: dict[str, object]) -> dict[str, object]:
        if "output" in data:
            data["output"] = _first(data["output"])
        return data


class BalanceRow(VendorModel):
    """inquire-balance `output1` row: one position (spec §4.3)."""

    pdno: str = ""
    prdt_name: str = ""
    hldg_qty: str = ""
    ord_psbl_qty: str = ""
    pchs_avg_pric: str = ""
    pchs_amt: str = ""
    prpr: str = ""
    evlu_amt: str = ""


class BalanceSummary(VendorModel):
    """inquire-balance `output2[0]`: the account summary (spec §4.3)."""

    dnca_tot_amt: str = ""
    nxdy_excc_amt: str = ""
    prvs_rcdl_excc_amt: str = ""
    thdt_buy_amt: str = ""
    thdt_sll_amt: str = ""
    tot_evlu_amt: str = ""
    nass_amt: str = ""


class BalancePage(Envelope):
    ctx_area_fk100: str = ""
    ctx_area_nk100: str = ""
    output1: list[BalanceRow] = Field(default_factory=list)
    output2: list[BalanceSummary] = Field(default_factory=list)

    @classmethod
    def _reshape(cls, data: dict[str, object]) -> dict[str, object]:
        for key in ("output1", "output2"):
            if key in data:
                data[key] = _as_list(data[key])
        return data


class DailyRow(VendorModel):
    """inquire-daily-ccld `output1` row: one order (spec §4.4)."""

    ord_dt: str = ""
    ord_gno_brno: str = ""
    odno: str = ""
    orgn_odno: str = ""
    ord_dvsn_name: str = ""
    ord_dvsn_cd: str = ""
    sll_buy_dvsn_cd: str = ""
    sll_buy_dvsn_cd_name: str = ""
    pdno: str = ""
    prdt_name: str = ""
    ord_qty: str = ""
    ord_unpr: str = ""
    ord_tmd: str = ""
    tot_ccld_qty: str = ""
    avg_prvs: str = ""
    cncl_yn: str = ""
    tot_ccld_amt: str = ""
    cncl_cfrm_qty: str = ""
    rmn_qty: str = ""
    rjct_qty: str = ""


class DailySummary(VendorModel):
    tot_ord_qty: str = ""
    tot_ccld_qty: str = ""
    tot_ccld_amt: str = ""


class DailyPage(Envelope):
    ctx_area_fk100: str = ""
    ctx_area_nk100: str = ""
    output1: list[DailyRow] = Field(default_factory=list)
    output2: DailySummary | None = None

    @classmethod
    def _reshape(cls, data: dict[str, object]) -> dict[str, object]:
        if "output1" in data:
            data["output1"] = _as_list(data["output1"])
        if "output2" in data:
            data["output2"] = _first(data["output2"])
        return data


class PsblOrderOutput(VendorModel):
    """inquire-psbl-order `output` (spec §4.5)."""

    ord_psbl_cash: str = ""
    nrcvb_buy_amt: str = ""
    max_buy_amt: str = ""
    ruse_psbl_amt: str = ""


class PsblOrderReply(Envelope):
    output: PsblOrderOutput | None = None

    @classmethod
    def _reshape(cls, data: dict[str, object]) -> dict[str, object]:
        if "output" in data:
            data["output"] = _first(data["output"])
        return data


class PriceOutput(VendorModel):
    """inquire-price `output` (spec §4.8)."""

    stck_prpr: str = ""
    stck_shrn_iscd: str = ""
    aspr_unit: str = ""
    stck_mxpr: str = ""
    stck_llam: str = ""


class PriceReply(Envelope):
    output: PriceOutput | None = None

    @classmethod
    def _reshape(cls, data: dict[str, object]) -> dict[str, object]:
        if "output" in data:
            data["output"] = _first(data["output"])
        return data
