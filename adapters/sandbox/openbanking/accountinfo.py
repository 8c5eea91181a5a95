"""어카운트인포 계좌통합조회 ``POST /v2.0/accountinfo/list`` (spec §2.13), scope ``sa``.

Both request variants are accepted: A (``auth_code`` from the 사용자정보확인 step — its endpoint is
a spec gap, so the seed supplies each user's ``ainfo_auth_code``) and B (``user_name`` + ``user_ci``
with ``ainfo_agree_yn=Y``). The only list in this family that carries balances and full account
numbers. Paging: ``trace_no`` is the 1-based start record, echoed back; the next page starts at
``trace_no + page_record_cnt`` while that is ≤ ``total_record_cnt`` (echoing is a sandbox reading
of an underspecified field).
"""

from __future__ import annotations

import re
import secrets
import string
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response

from . import codes
from .envelope import RelayError, success
from .formats import fmt_date, mask_account_num
from .guards import Fields, authorize_call, format_error
from .ledger import Account
from .seed import UserSeed
from .state import Relay

BANK_TYPES = frozenset({"1", "2", "4"})
MAX_RECORDS: Final = 30
_NUMBER_RE: Final = re.compile(r"[0-9]{1,6}")
_ID_ALPHABET: Final = string.ascii_uppercase + string.digits


def _user(relay: Relay, fields: Fields) -> UserSeed:
    auth_code = fields.text("auth_code", required=False)
    if auth_code:
        user = next((u for u in relay.users.values() if u.ainfo_auth_code == auth_code), None)
    else:
        name = fields.text("user_name", max_len=20)
        ci = fields.text("user_ci")
        fields.text("ainfo_agree_yn", choices=frozenset({"Y"}))
        user = next(
            (u for u in relay.users.values() if u.user_ci == ci and u.user_name == name), None
        )
    if user is None:
        raise RelayError(codes.A_USER_MISMATCH)
    return user


def _item(list_num: int, account: Account, bank_type: str) -> dict[str, Any]:
    item: dict[str, Any] = {
        "list_num": f"{list_num:03d}",
        "bank_code_std": account.bank_code_std,
        "activity_type": "A",
        "account_type": account.account_type,
        "account_num": account.account_num,
        "account_num_masked": mask_account_num(account.account_num),
        "account_seq": account.account_seq,
        "account_local_code": account.bank_code_sub,
        "account_issue_date": account.account_issue_date,
        "maturity_date": account.maturity_date,
        "last_tran_date": account.last_tran_date,
        "product_name": account.product_name,
        "product_sub_name": "",
        "dormancy_yn": "N",
        "balance_amt": str(account.balance),
    }
    if bank_type == "4":
        item.update(
            {
                "deposit_amt": str(account.balance),
                "balance_calc_basis_1": "S",
                "balance_calc_basis_2": "N",
                "investment_linked_yn": "N",
                "bank_linked_yn": "N",
                "balance_after_cancel_yn": "N",
            }
        )
    if bank_type == "2":
        item["savings_bank_code"] = ""
    return item


async def accountinfo_list(request: Request, relay: Relay) -> Response:
    authorize_call(request, relay, "sa")
    fields = await Fields.from_json(request)
    user = _user(relay, fields)
    bank_type = fields.text("inquiry_bank_type", choices=BANK_TYPES)
    org_id = fields.text("org_ainfo_tran_id", required=False, max_len=12)
    trace_no = int(fields.text("trace_no", pattern=_NUMBER_RE))
    record_cnt = int(fields.text("inquiry_record_cnt", pattern=_NUMBER_RE))
    if trace_no < 1:
        raise format_error("trace_no")
    if not 1 <= record_cnt <= MAX_RECORDS:
        raise format_error("inquiry_record_cnt")

    # 계좌통합조회 sees every account the user holds, registered with this 이용기관 or not.
    held = sorted(
        (
            a
            for a in relay.accounts_of(user.user_seq_no)
            if codes.accountinfo_bank_type(a.bank_code_std) == bank_type
        ),
        key=lambda a: (a.bank_code_std, a.account_num),
    )
    page = held[trace_no - 1 : trace_no - 1 + record_cnt]
    now = relay.now()
    return success(
        now,
        {
            "ainfo_tran_id": "".join(secrets.choice(_ID_ALPHABET) for _ in range(12)),
            "ainfo_tran_date": fmt_date(now),
            "rsp_type": "0",
            "ainfo_rsp_code": "0000",
            "ainfo_rsp_message": "",
            "inquiry_bank_type": bank_type,
            "exclude_cnt": "0",
            "exclude_list": [],
            "org_ainfo_tran_id": org_id,
            "trace_no": str(trace_no),
            "total_record_cnt": str(len(held)),
            "page_record_cnt": str(len(page)),
            "res_list": [_item(trace_no + i, a, bank_type) for i, a in enumerate(page)],
        },
    )
