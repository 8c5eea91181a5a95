"""Pydantic models of relay payloads (spec §1.3-§1.5, §2.2-§2.7, §3.1).

Every amount, date and count travels as a JSON string (spec §2, §8.7), so fields are strings here
("" when missing or null, on the shared tolerant base `adapters/http/payloads.py`) and mapping.py
turns them into Decimal/datetime. Unknown fields are ignored: the relay grows its records over
time.
"""

from __future__ import annotations

from pydantic import ConfigDict, Field

from adapters.http.payloads import JsonObject, PayloadError, TolerantModel, as_text, parse_json

__all__ = ["JsonObject", "PayloadError", "parse_json"]  # read with the models by client and tests

OK = "A0000"
BANK_OK = "000"


class Vendor(TolerantModel):
    """Base of every relay model: missing or null scalars read as ""; numbers become text;
    undeclared fields are dropped (transaction pages are large, and nothing reads them)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    @classmethod
    def _text(cls, key: str, value: object) -> object:
        if value is None and key == "res_list":
            return []
        return as_text(value)


class Envelope(Vendor):
    """§3.1: the API half (all replies) and the participant half (per-account APIs)."""

    api_tran_id: str = ""
    rsp_code: str = ""
    rsp_message: str = ""
    bank_tran_id: str = ""
    bank_tran_date: str = ""
    bank_code_tran: str = ""
    bank_rsp_code: str = ""
    bank_rsp_message: str = ""


class TokenReply(Vendor):
    """§1.3 (3-legged) and §1.4 (client_credentials) token answers."""

    access_token: str
    token_type: str = ""
    expires_in: str = ""
    refresh_token: str = ""
    scope: str = ""
    user_seq_no: str = ""
    client_use_code: str = ""


class AccountItem(Vendor):
    """§2.2 res_list item. There are no balance fields here (spec §8.6)."""

    fintech_use_num: str
    account_alias: str = ""
    bank_code_std: str = ""
    bank_code_sub: str = ""
    bank_name: str = ""
    account_num_masked: str = ""
    account_holder_name: str = ""
    account_type: str = ""
    inquiry_agree_yn: str = ""
    transfer_agree_yn: str = ""
    account_state: str = ""


class AccountListReply(Envelope):
    """§2.2 account/list."""

    res_cnt: str = ""
    res_list: list[AccountItem] = Field(default_factory=list)


class BalanceReply(Envelope):
    """§2.3 balance/fin_num: balance_amt (signed) and available_amt (출금가능금액)."""

    fintech_use_num: str = ""
    bank_name: str = ""
    balance_amt: str
    available_amt: str = ""
    account_type: str = ""
    product_name: str = ""
    last_tran_date: str = ""


class TransactionItem(Vendor):
    """§2.4 res_list item. No per-transaction id exists; inout_type is Korean text (§8.8)."""

    tran_date: str
    tran_time: str
    inout_type: str
    tran_type: str = ""
    print_content: str = ""
    tran_amt: str
    after_balance_amt: str = ""
    branch_name: str = ""


class TransactionPage(Envelope):
    """§2.4 transaction_list page: at most 25 rows, `next_page_yn`, the cursor for the next."""

    balance_amt: str = ""
    page_record_cnt: str = ""
    next_page_yn: str = ""
    befor_inquiry_trace_info: str = ""
    res_list: list[TransactionItem] = Field(default_factory=list)


class TransferItem(Vendor):
    """§2.6/§2.7 res_list item: the participant half of the envelope for one transfer."""

    tran_no: str = ""
    bank_tran_id: str = ""
    bank_tran_date: str = ""
    bank_code_tran: str = ""
    bank_rsp_code: str = ""
    bank_rsp_message: str = ""
    tran_amt: str = ""


class TransferReply(Envelope):
    """§2.6 deposit and §2.7 transfer/result: API half on top, bank half per item."""

    res_cnt: str = ""
    res_list: list[TransferItem] = Field(default_factory=list)
