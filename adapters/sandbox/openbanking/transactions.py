"""거래내역조회 ``GET /v2.0/account/transaction_list/fin_num`` (spec §2.4, §7.3).

At most 25 rows a page. The cursor ``befor_inquiry_trace_info`` is AN(20); the sandbox makes it
``tran_date(8) + tran_time(6) + posting seq(6)`` of the last row returned — the same shape as the
spec's example — so it stays valid when new transactions are booked between pages. The parameter
must be omitted on the first page; an empty or foreign value is a format error (§8.5). On the last
page the cursor comes back as ``""`` (undocumented; the digest calls this a simulator choice).
An empty result is ``A0018`` by default, ``A0000`` with an empty list if the seed says so.
"""

from __future__ import annotations

import re
import sys
from bisect import bisect_left, bisect_right
from datetime import datetime, time
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response

from . import codes
from .accounts import bank_gate, savings_bank_name
from .envelope import RelayError, success
from .formats import KST, fmt_date, fmt_time, parse_dtime
from .guards import Fields, authorize_call, claim, format_error, user_account
from .ledger import OUTFLOW_TYPES, Transaction
from .state import Relay

PAGE_SIZE: Final = 25
CURSOR = "befor_inquiry_trace_info"
_CURSOR_RE: Final = re.compile(r"[0-9]{20}")
INQUIRY_TYPES = frozenset({"A", "I", "O"})
INQUIRY_BASES = frozenset({"D", "T"})
SORT_ORDERS = frozenset({"D", "A"})


def _wanted(entry: Transaction, inquiry_type: str) -> bool:
    if inquiry_type == "I":
        return entry.inout_type == "입금"
    if inquiry_type == "O":
        return entry.inout_type in OUTFLOW_TYPES
    return True


def _cursor_of(entry: Transaction) -> str:
    return f"{fmt_date(entry.at)}{fmt_time(entry.at)}{entry.seq:06d}"


def _parse_cursor(text: str) -> tuple[datetime, int]:
    moment = parse_dtime(text[:14]) if _CURSOR_RE.fullmatch(text) else None
    if moment is None:
        raise format_error(CURSOR)
    return moment, int(text[14:])


def _key(entry: Transaction) -> tuple[datetime, int]:
    # Whole seconds: the relay's range and cursor are inclusive at second granularity.
    return entry.at.replace(microsecond=0), entry.seq


def _page(
    history: list[Transaction],
    start: datetime,
    end: datetime,
    inquiry_type: str,
    cursor: tuple[datetime, int] | None,
    descending: bool,
) -> tuple[list[Transaction], bool]:
    """Up to PAGE_SIZE matching rows after the cursor, and whether more follow."""
    lo = bisect_left(history, (start, 0), key=_key)
    hi = bisect_right(history, (end, sys.maxsize), key=_key)
    if cursor is not None:
        if descending:
            hi = min(hi, bisect_left(history, cursor, key=_key))
        else:
            lo = max(lo, bisect_right(history, cursor, key=_key))
    indices = range(hi - 1, lo - 1, -1) if descending else range(lo, hi)
    found: list[Transaction] = []
    for i in indices:
        if _wanted(history[i], inquiry_type):
            if len(found) == PAGE_SIZE:
                return found, True
            found.append(history[i])
    return found, False


def _row(entry: Transaction) -> dict[str, str]:
    return {
        "tran_date": fmt_date(entry.at),
        "tran_time": fmt_time(entry.at),
        "inout_type": entry.inout_type,
        "tran_type": entry.tran_type,
        "print_content": entry.print_content,
        "tran_amt": str(entry.amount),
        "after_balance_amt": str(entry.after_balance),
        "branch_name": entry.branch_name,
    }


async def transaction_list(request: Request, relay: Relay) -> Response:
    caller = authorize_call(request, relay, "inquiry")
    fields = Fields.from_query(request)
    bank_tran_id = fields.bank_tran_id(caller)
    fintech_use_num = fields.fintech_use_num()
    inquiry_type = fields.text("inquiry_type", choices=INQUIRY_TYPES)
    by_time = fields.text("inquiry_base", choices=INQUIRY_BASES) == "T"
    start = datetime.combine(
        fields.date("from_date"), fields.time("from_time") if by_time else time(0, 0, 0), tzinfo=KST
    )
    end = datetime.combine(
        fields.date("to_date"), fields.time("to_time") if by_time else time(23, 59, 59), tzinfo=KST
    )
    if start > end:
        raise format_error("from_date")
    descending = fields.text("sort_order", choices=SORT_ORDERS) == "D"
    fields.tran_dtime(relay)
    cursor = _parse_cursor(request.query_params[CURSOR]) if fields.has(CURSOR) else None
    fields.yn("req_from_offline_yn", required=False)
    claim(relay, bank_tran_id)

    account = user_account(relay, caller, fintech_use_num)
    if not account.inquiry_agreed:
        raise RelayError(codes.A_INQUIRY_CONSENT_MISSING)
    bank = bank_gate(relay, account, bank_tran_id)

    # History is kept sorted, so a page is a bisect plus a short scan: a 100k-row account pages in
    # constant time instead of filtering and sorting everything on every request.
    page, more = _page(account.history, start, end, inquiry_type, cursor, descending)

    body: dict[str, Any] = {
        "bank_name": codes.institution_name(account.bank_code_std),
        "savings_bank_name": savings_bank_name(account),
        "fintech_use_num": account.fintech_use_num,
        "balance_amt": str(account.balance),
        "page_record_cnt": str(len(page)),
        "next_page_yn": "Y" if more else "N",
        CURSOR: _cursor_of(page[-1]) if more else "",
        "res_list": [_row(e) for e in page],
    }
    if not page and relay.seed.relay.empty_transaction_list == codes.A_NO_HISTORY:
        raise RelayError(codes.A_NO_HISTORY, bank=bank, extra=body)
    return success(relay.now(), body, bank)
