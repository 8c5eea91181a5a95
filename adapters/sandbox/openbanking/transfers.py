"""Money movement: 입금이체 deposit/fin_num (§2.6, ``oob``), 출금이체 withdraw/fin_num (§2.5,
``transfer``) and 이체결과조회 transfer/result (§2.7, ``oob``).

Deposit is a list API: the envelope's API half at the top, the participant half per ``res_list``
item, and a failed item makes the top-level code ``A0009``. Withdraw is single-item with the full
envelope. A ``transfer_outcome`` fault answers A0001/A0007/… (UNKNOWN, §3.4) and, per the fault's
``executed`` flag, the money either moved or never reached the participant; transfer/result
answers from what really happened: a record with ``bank_rsp_code`` or ``A0310`` (no record).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response

from . import codes
from .envelope import BankPart, RelayError, api_part, relay_json, success
from .faults import FaultSpec
from .formats import BANK_CODE_RE, BANK_TRAN_ID_RE, fmt_date
from .guards import Caller, Fields, authorize_call, claim, format_error, user_account
from .ledger import Account
from .seed import ClientSeed, ContractAccountSeed
from .state import CheckType, Party, Relay, TransferRecord

CNTR_ACCOUNT_TYPES = frozenset({"N", "C"})
NAME_CHECK_OPTIONS = frozenset({"on", "off"})
TRANSFER_PURPOSES = frozenset({"TR", "ST", "RC", "AU", "WD", "EX"})
CHECK_TYPES = frozenset({"1", "2"})
REQ_CLIENT_NUM_RE: Final = re.compile(r"[A-Z0-9]{1,20}")
DEPOSIT_PATH: Final = "/v2.0/transfer/deposit/fin_num"
WITHDRAW_PATH: Final = "/v2.0/transfer/withdraw/fin_num"
RECIPIENT_FIELDS: Final = ("recv_client_name", "recv_client_bank_code", "recv_client_account_num")
MISSING_RECIPIENT: Final = "최종수취고객정보가 입력되지 않았습니다"
INSUFFICIENT_FUNDS: Final = "잔액부족"
# How a relay-initiated movement shows in the participant's passbook (participant-defined, §2.4).
TRAN_TYPE: Final = "오픈뱅킹"


def _contract(client: ClientSeed, kind: str, account_type: str, number: str) -> ContractAccountSeed:
    for contract in client.contract_accounts:
        if (contract.kind, contract.cntr_account_type, contract.cntr_account_num) == (
            kind,
            account_type,
            number,
        ):
            return contract
    raise RelayError(codes.A_CONTRACT_ACCOUNT_UNREGISTERED)


def _check_requester(fields: Fields) -> None:
    """req_client_*: the account pair XOR the fintech number, never both (§2.5)."""
    fields.text("req_client_name", max_len=20)
    bank = fields.text("req_client_bank_code", required=False, pattern=BANK_CODE_RE)
    number = fields.text("req_client_account_num", required=False, max_len=16)
    fintech = fields.text("req_client_fintech_use_num", required=False, max_len=24)
    by_account = bool(bank) and bool(number)
    if by_account == bool(fintech) or (bool(bank) != bool(number)):
        raise format_error("req_client_fintech_use_num")
    fields.text("req_client_num", pattern=REQ_CLIENT_NUM_RE)
    fields.text("transfer_purpose", choices=TRANSFER_PURPOSES)


def _outcome(relay: Relay, path: str) -> FaultSpec | None:
    return relay.faults.take(frozenset({"transfer_outcome"}), path, "POST")


def _ambiguous(relay: Relay, fault: FaultSpec, extra: Mapping[str, Any]) -> Response:
    body = api_part(
        relay.now(),
        fault.rsp_code or codes.A_PROCESSING,
        fault.rsp_message or codes.rsp_message(fault.rsp_code or codes.A_PROCESSING),
    )
    body.update(extra)
    return relay_json(body)


# --- deposit --------------------------------------------------------------------------------


async def deposit(request: Request, relay: Relay) -> Response:
    caller = authorize_call(request, relay, "oob")
    fields = await Fields.from_json(request)
    cntr_type = fields.text("cntr_account_type", choices=CNTR_ACCOUNT_TYPES)
    cntr_num = fields.text("cntr_account_num", max_len=16)
    pass_phrase = fields.text("wd_pass_phrase", max_len=128)
    wd_print = fields.text("wd_print_content", max_len=20)
    fields.text("name_check_option", choices=NAME_CHECK_OPTIONS)
    fields.tran_dtime(relay)
    # §2.6: req_cnt is fixed at "1" and travels as a string like every count.
    fields.text("req_cnt", choices=frozenset({"1"}))
    raw_items = fields.items("req_list")
    if len(raw_items) != 1:
        raise format_error("req_list")
    item = fields.nested(raw_items[0], "req_list")
    tran_no = item.text("tran_no", choices=frozenset({"1"}))
    bank_tran_id = item.bank_tran_id(caller)
    fintech_use_num = item.fintech_use_num()
    print_content = item.text("print_content", max_len=20)
    amount = item.amount("tran_amt")
    _check_requester(item)
    item.text("recv_bank_tran_id", required=False, pattern=BANK_TRAN_ID_RE)
    cms_num = item.text("cms_num", required=False, max_len=32)

    contract = _contract(caller.client, "deposit", cntr_type, cntr_num)
    if pass_phrase != caller.client.wd_pass_phrase:
        raise RelayError(codes.A_PASS_PHRASE_MISMATCH)
    claim(relay, bank_tran_id)
    account = relay.accounts.get(fintech_use_num)
    if account is None:
        raise RelayError(codes.A_FINTECH_NUM_MISMATCH)
    if not account.active:
        raise RelayError(codes.A_ACCOUNT_NOT_REGISTERED)
    limits = caller.client.limits
    if limits.deposit_per_tran is not None and amount > limits.deposit_per_tran:
        raise RelayError(codes.A_DEPOSIT_PER_TRAN_LIMIT)
    spent = relay.executed_today("2", client_use_code=caller.client.client_use_code)
    if limits.deposit_daily is not None and spent + amount > limits.deposit_daily:
        raise RelayError(codes.A_DEPOSIT_DAILY_LIMIT)

    wd = Party.of_contract(contract, wd_print)
    dps = Party.of_account(account, print_content)
    bank_code = account.forced_bank_rsp_code
    fault = _outcome(relay, DEPOSIT_PATH) if bank_code == codes.BANK_OK else None
    if fault is None or fault.executed:
        record = _book(relay, caller, "2", bank_tran_id, amount, account, wd, dps, bank_code)
        if record.executed:
            account.post(
                at=relay.now(),
                inout_type="입금",
                amount=amount,
                tran_type=TRAN_TYPE,
                print_content=print_content,
            )
    if fault is not None:
        return _ambiguous(relay, fault, {})

    part = BankPart.answer(bank_tran_id, relay.now(), account.bank_code_std, bank_code)
    result_item = {
        "tran_no": tran_no,
        **part.as_fields(),
        "fintech_use_num": account.fintech_use_num,
        "account_alias": account.account_alias,
        "bank_code_std": dps.bank_code_std,
        "bank_code_sub": dps.bank_code_sub,
        "bank_name": dps.bank_name,
        "savings_bank_name": "",
        "account_num_masked": dps.account_num_masked,
        "print_content": print_content,
        "account_holder_name": dps.account_holder_name,
        "tran_amt": str(amount),
        "cms_num": cms_num,
    }
    body = {**wd.fields("wd"), "res_cnt": "1", "res_list": [result_item]}
    if bank_code != codes.BANK_OK:
        raise RelayError(codes.A_PARTIAL_FAILURE, extra=body)
    return success(relay.now(), body)


def _book(
    relay: Relay,
    caller: Caller,
    check_type: CheckType,
    bank_tran_id: str,
    amount: int,
    account: Account,
    wd: Party,
    dps: Party,
    bank_rsp_code: str,
) -> TransferRecord:
    record = TransferRecord(
        check_type=check_type,
        bank_tran_id=bank_tran_id,
        bank_tran_date=relay.today(),
        bank_code_tran=account.bank_code_std,
        bank_rsp_code=bank_rsp_code,
        tran_amt=amount,
        fintech_use_num=account.fintech_use_num,
        user_seq_no=account.user_seq_no,
        client_use_code=caller.client.client_use_code,
        wd=wd,
        dps=dps,
    )
    relay.transfers[(check_type, record.bank_tran_date, bank_tran_id)] = record
    return record


# --- withdraw -------------------------------------------------------------------------------


async def withdraw(request: Request, relay: Relay) -> Response:
    caller = authorize_call(request, relay, "transfer")
    fields = await Fields.from_json(request)
    bank_tran_id = fields.bank_tran_id(caller)
    cntr_type = fields.text("cntr_account_type", choices=CNTR_ACCOUNT_TYPES)
    cntr_num = fields.text("cntr_account_num", max_len=16)
    dps_print = fields.text("dps_print_content", max_len=20)
    fintech_use_num = fields.fintech_use_num()
    wd_print = fields.text("wd_print_content", required=False, max_len=20)
    amount = fields.amount("tran_amt")
    fields.tran_dtime(relay)
    _check_requester(fields)
    # The testbed rejects withdrawals without the final beneficiary (§2.5, §8.18).
    if not all(fields.text(name, required=False) for name in RECIPIENT_FIELDS):
        raise RelayError(codes.A_FORMAT_ERROR, MISSING_RECIPIENT)

    contract = _contract(caller.client, "withdraw", cntr_type, cntr_num)
    claim(relay, bank_tran_id)
    account = user_account(relay, caller, fintech_use_num)
    if not account.transfer_agreed:
        raise RelayError(codes.A_WITHDRAW_CONSENT_MISSING)
    user = relay.users[account.user_seq_no]
    if user.limits.withdraw_per_tran is not None and amount > user.limits.withdraw_per_tran:
        raise RelayError(codes.A_USER_WITHDRAW_PER_TRAN_LIMIT)
    spent = relay.executed_today("1", user_seq_no=user.user_seq_no)
    daily = user.limits.withdraw_daily
    if daily is not None and spent + amount > daily:
        raise RelayError(codes.A_USER_WITHDRAW_DAILY_LIMIT)

    wd = Party.of_account(account, wd_print or dps_print)
    dps = Party.of_contract(contract, dps_print)
    now = relay.now()
    bank_code = account.forced_bank_rsp_code
    part = BankPart.answer(bank_tran_id, now, account.bank_code_std, bank_code)
    if bank_code == codes.BANK_OK and amount > account.available:
        part = replace(part, bank_rsp_code=codes.BANK_OTHER, bank_rsp_message=INSUFFICIENT_FUNDS)
    if part.bank_rsp_code != codes.BANK_OK:
        _book(relay, caller, "1", bank_tran_id, amount, account, wd, dps, part.bank_rsp_code)
        raise RelayError(codes.A_BANK_ERROR, bank=part)

    fault = _outcome(relay, WITHDRAW_PATH)
    if fault is None or fault.executed:
        _book(relay, caller, "1", bank_tran_id, amount, account, wd, dps, codes.BANK_OK)
        account.post(
            at=now,
            inout_type="출금",
            amount=amount,
            tran_type=TRAN_TYPE,
            print_content=wd.print_content,
        )
    if fault is not None:
        return _ambiguous(relay, fault, {"bank_tran_id": bank_tran_id})

    remaining = "" if daily is None else str(max(daily - spent - amount, 0))
    return success(
        now,
        {
            **dps.fields("dps"),
            "fintech_use_num": account.fintech_use_num,
            "account_alias": account.account_alias,
            "bank_code_std": account.bank_code_std,
            "bank_code_sub": account.bank_code_sub,
            "bank_name": wd.bank_name,
            "savings_bank_name": "",
            "account_num_masked": wd.account_num_masked,
            "print_content": wd.print_content,
            "account_holder_name": account.account_holder_name,
            "tran_amt": str(amount),
            "wd_limit_remain_amt": remaining,
        },
        part,
    )


# --- result ---------------------------------------------------------------------------------


async def result(request: Request, relay: Relay) -> Response:
    caller = authorize_call(request, relay, "oob")
    fields = await Fields.from_json(request)
    check_type: CheckType = "1" if fields.text("check_type", choices=CHECK_TYPES) == "1" else "2"
    fields.tran_dtime(relay)
    req_cnt = fields.text("req_cnt", pattern=re.compile(r"[0-9]{1,5}"))
    raw_items = fields.items("req_list")
    if int(req_cnt) != len(raw_items) or not raw_items:
        raise format_error("req_cnt")

    answers: list[dict[str, str]] = []
    found_any = False
    failed_any = False
    for raw in raw_items:
        item = fields.nested(raw, "req_list")
        tran_no = item.text("tran_no", pattern=re.compile(r"[0-9]{1,5}"))
        org_id = item.bank_tran_id(caller, "org_bank_tran_id")
        org_date = fmt_date(item.date("org_bank_tran_date"))
        org_amount = item.amount("org_tran_amt")
        record = relay.transfers.get((check_type, org_date, org_id))
        if record is None:
            failed_any = True
            answers.append(
                {
                    "tran_no": tran_no,
                    "bank_tran_id": org_id,
                    "bank_tran_date": org_date,
                    "bank_code_tran": "",
                    "bank_rsp_code": "",
                    "bank_rsp_message": codes.rsp_message(codes.A_NO_TRANSFER_RECORD),
                }
            )
            continue
        if record.tran_amt != org_amount:
            raise format_error("org_tran_amt")
        found_any = True
        failed_any = failed_any or not record.executed
        answers.append(
            {
                "tran_no": tran_no,
                "bank_tran_id": record.bank_tran_id,
                "bank_tran_date": record.bank_tran_date,
                "bank_code_tran": record.bank_code_tran,
                "bank_rsp_code": record.bank_rsp_code,
                "bank_rsp_message": codes.BANK_RSP_MESSAGES.get(record.bank_rsp_code, ""),
                **record.wd.fields("wd"),
                **record.dps.fields("dps"),
                "tran_amt": str(record.tran_amt),
            }
        )

    if not found_any:
        raise RelayError(codes.A_NO_TRANSFER_RECORD)
    body = {"res_cnt": str(len(answers)), "res_list": answers}
    if failed_any:
        raise RelayError(codes.A_PARTIAL_FAILURE, extra=body)
    return success(relay.now(), body)
