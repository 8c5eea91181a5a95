"""User and account reads: user/me (§2.1), account/list (§2.2), balance/fin_num (§2.3) and
inquiry/real_name (§2.8).

user/me and account/list carry only the API half of the envelope and NO balance fields (§2.2,
§8.6); balance and real_name are per-account and carry the participant half too.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from . import codes
from .envelope import BankPart, RelayError, success
from .formats import BANK_CODE_RE, mask_account_num
from .guards import Fields, authorize_call, claim, user_account, user_seq_no_param
from .ledger import Account
from .state import Relay

HOLDER_INFO_TYPES = frozenset({" ", "1", "2", "3", "4", "5", "6", "E", "N"})
SORT_ORDERS = frozenset({"D", "A"})


def registration_fields(account: Account) -> dict[str, Any]:
    """The account as a registration (user/me and account/list res_list items, §2.1-§2.2)."""
    return {
        "fintech_use_num": account.fintech_use_num,
        "account_alias": account.account_alias,
        "bank_code_std": account.bank_code_std,
        "bank_code_sub": account.bank_code_sub,
        "bank_name": codes.institution_name(account.bank_code_std),
        "savings_bank_name": savings_bank_name(account),
        "account_num_masked": mask_account_num(account.account_num),
        "account_seq": account.account_seq,
        "account_holder_name": account.account_holder_name,
        "account_holder_type": account.account_holder_type,
        "account_type": account.account_type,
        "inquiry_agree_yn": "Y" if account.inquiry_agreed else "N",
        "inquiry_agree_dtime": account.inquiry_agree_dtime,
        "transfer_agree_yn": "Y" if account.transfer_agreed else "N",
        "transfer_agree_dtime": account.transfer_agree_dtime or "",
    }


def savings_bank_name(account: Account) -> str:
    # Only savings banks (050) fill this (§2.2); everyone else sends an empty string.
    return codes.institution_name(account.bank_code_std) if account.bank_code_std == "050" else ""


def bank_gate(relay: Relay, account: Account, bank_tran_id: str) -> BankPart:
    """The participant's answer for ``account``; a forced failure becomes A0002 + bank code."""
    part = BankPart.answer(
        bank_tran_id, relay.now(), account.bank_code_std, account.forced_bank_rsp_code
    )
    if part.bank_rsp_code != codes.BANK_OK:
        raise RelayError(codes.A_BANK_ERROR, bank=part)
    return part


async def user_me(request: Request, relay: Relay) -> Response:
    caller = authorize_call(request, relay, "login")
    fields = Fields.from_query(request)
    user = relay.users[user_seq_no_param(fields, caller)]
    listed = [a for a in relay.accounts_of(user.user_seq_no) if a.active]
    items = [{**registration_fields(a), "account_num": None, "payer_num": ""} for a in listed]
    return success(
        relay.now(),
        {
            "user_seq_no": user.user_seq_no,
            "user_ci": user.user_ci,
            "user_name": user.user_name,
            "user_info": user.user_info,
            "user_gender": user.user_gender,
            "user_cell_no": user.user_cell_no,
            "user_email": user.user_email,
            "res_cnt": str(len(items)),
            "res_list": items,
        },
    )


async def account_list(request: Request, relay: Relay) -> Response:
    caller = authorize_call(request, relay, "login")
    fields = Fields.from_query(request)
    user = relay.users[user_seq_no_param(fields, caller)]
    include_cancelled = fields.yn("include_cancel_yn") == "Y"
    descending = fields.text("sort_order", choices=SORT_ORDERS) == "D"
    listed = [a for a in relay.accounts_of(user.user_seq_no) if include_cancelled or a.active]
    # §2.2: sorted by the latest of the inquiry/transfer consent timestamps.
    listed.sort(
        key=lambda a: (max(a.inquiry_agree_dtime, a.transfer_agree_dtime or ""), a.fintech_use_num),
        reverse=descending,
    )
    items = [{**registration_fields(a), "account_state": a.account_state} for a in listed]
    return success(
        relay.now(),
        {"user_name": user.user_name, "res_cnt": str(len(items)), "res_list": items},
    )


async def balance(request: Request, relay: Relay) -> Response:
    caller = authorize_call(request, relay, "inquiry")
    fields = Fields.from_query(request)
    bank_tran_id = fields.bank_tran_id(caller)
    fintech_use_num = fields.fintech_use_num()
    fields.tran_dtime(relay)
    fields.yn("req_from_offline_yn", required=False)
    claim(relay, bank_tran_id)
    account = user_account(relay, caller, fintech_use_num)
    if not account.inquiry_agreed:
        raise RelayError(codes.A_INQUIRY_CONSENT_MISSING)
    bank = bank_gate(relay, account, bank_tran_id)
    return success(
        relay.now(),
        {
            "bank_name": codes.institution_name(account.bank_code_std),
            "savings_bank_name": savings_bank_name(account),
            "fintech_use_num": account.fintech_use_num,
            "balance_amt": str(account.balance),
            "available_amt": str(account.available),
            "account_type": account.account_type,
            "product_name": account.product_name,
            "account_issue_date": account.account_issue_date,
            "maturity_date": account.maturity_date,
            "last_tran_date": account.last_tran_date,
        },
        bank,
    )


async def real_name(request: Request, relay: Relay) -> Response:
    caller = authorize_call(request, relay, "oob")
    fields = await Fields.from_json(request)
    bank_tran_id = fields.bank_tran_id(caller)
    bank_code_std = fields.text("bank_code_std", pattern=BANK_CODE_RE)
    account_num = fields.text("account_num", max_len=16)
    info_type = fields.text("account_holder_info_type", choices=HOLDER_INFO_TYPES)
    # Type N skips the holder check and must leave the info empty (§2.8).
    info = fields.text("account_holder_info", required=info_type != "N", max_len=13)
    if info_type == "N" and info:
        raise RelayError(codes.A_FORMAT_ERROR, "account_holder_info")
    fields.tran_dtime(relay)
    claim(relay, bank_tran_id)
    account = relay.account_by_number(bank_code_std, account_num)
    if account is None:
        part = BankPart.answer(bank_tran_id, relay.now(), bank_code_std, codes.BANK_NO_ACCOUNT)
        raise RelayError(codes.A_BANK_ERROR, bank=part)
    bank = bank_gate(relay, account, bank_tran_id)
    return success(
        relay.now(),
        {
            "bank_code_std": account.bank_code_std,
            "bank_code_sub": account.bank_code_sub,
            "bank_name": codes.institution_name(account.bank_code_std),
            "savings_bank_name": savings_bank_name(account),
            "account_num": account_num,
            "account_seq": account.account_seq,
            "account_holder_info_type": info_type,
            "account_holder_info": info,
            "account_holder_name": account.account_holder_name,
            "account_type": account.account_type,
        },
        bank,
    )
