"""Vendor field names and formats in and out: the only module that knows KST and relay fields.

Relay dates are KST without an offset (spec §4): `tran_dtime` is `yyyyMMddHHmmss` KST now,
dates `yyyyMMdd`, times `HHmmss`. Amounts are strings of digits, balances signed (SN).
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from adapters.openbanking.schemas import (
    AccountItem,
    BalanceReply,
    TokenReply,
    TransactionItem,
)
from adapters.openbanking.settings import TransferSettings
from adapters.openbanking.stores import StoredToken, TransferRecord
from orchestrator.domain.model import (
    AccountKind,
    AccountRef,
    CashBalance,
    Direction,
    Institution,
    Transaction,
)
from orchestrator.domain.money import to_money
from orchestrator.domain.timeutil import KST, to_kst

ACCOUNT_IN_USE = "01"  # account_state (spec §2.2); "09" is cancelled
# inout_type is Korean text (spec §2.4, §8.8); 지급 is a payment out (card, etc.).
_DIRECTIONS: dict[str, Direction] = {
    "입금": Direction.IN,
    "출금": Direction.OUT,
    "지급": Direction.OUT,
}
_OTHER = "기타"  # "other": tran_amt is 0 (spec §2.4)


# --- time -------------------------------------------------------------------------------------


def tran_dtime(now: datetime) -> str:
    """N(14) request timestamp, KST (spec §4; a UTC stamp is a known tutorial bug)."""
    return to_kst(now).strftime("%Y%m%d%H%M%S")


def kst_day(now: datetime) -> str:
    """The KST business day of `now` as yyyyMMdd (bank_tran_id uniqueness, transfer dates)."""
    return to_kst(now).strftime("%Y%m%d")


def kst_day_start(now: datetime) -> datetime:
    """Midnight KST of `now`'s KST day, as an aware datetime (daily transfer limits)."""
    local = to_kst(now)
    return datetime.combine(local.date(), time(0, 0), tzinfo=KST)


def transfer_days(requested_at: datetime, *, slack: timedelta) -> list[str]:
    """KST days a transfer sent at `requested_at` may be booked under (transfer/result needs it).

    Sent just before midnight, the participant may book it on the next day: both are asked.
    """
    days = [kst_day(requested_at)]
    later = kst_day(requested_at + slack)
    if later != days[0]:
        days.append(later)
    return days


def ymd(day: date) -> str:
    return day.strftime("%Y%m%d")


def _occurred_at(tran_date: str, tran_time: str) -> datetime:
    text = tran_date + tran_time
    if len(tran_date) != 8 or len(tran_time) != 6 or not text.isdigit():
        raise ValueError("tran_date/tran_time malformed")
    y, mo, d, h, mi, s = (
        int(text[a:b]) for a, b in ((0, 4), (4, 6), (6, 8), (8, 10), (10, 12), (12, 14))
    )
    return datetime(y, mo, d, h, mi, s, tzinfo=KST)


# --- accounts ---------------------------------------------------------------------------------


def account_id_of(fintech_use_num: str) -> str:
    """Our stable account id for a registered account: not reversible to the fintech number."""
    return "ob-" + hashlib.sha256(fintech_use_num.encode()).hexdigest()[:12]


def account_kind(bank_code_std: str, account_type: str, alias: str) -> AccountKind:
    """`account_type` (spec §2.2): 1 demand deposit, 2 savings, 6 funds, T securities account.

    Whether a Samsung CMA registers as 1 or T is a spec gap (§5): at a securities firm both are
    read as the CMA when the alias says so, otherwise T is a brokerage account.
    """
    securities = bank_code_std.startswith("2")
    if securities and ("CMA" in alias.upper() or account_type == "1"):
        return AccountKind.CMA
    if securities:
        return AccountKind.BROKERAGE
    return AccountKind.DEPOSIT


def account_ref(
    item: AccountItem, user_id: str, institutions: tuple[Institution, ...]
) -> AccountRef | None:
    """The account as an AccountRef; None when cancelled, not readable or not one we report."""
    if item.account_state and item.account_state != ACCOUNT_IN_USE:
        return None
    if item.inquiry_agree_yn and item.inquiry_agree_yn != "Y":
        return None
    try:
        institution = Institution(item.bank_code_std)
    except ValueError:
        return None
    if institution not in institutions:
        return None
    return AccountRef(
        user_id=user_id,
        account_id=account_id_of(item.fintech_use_num),
        institution=institution,
        kind=account_kind(item.bank_code_std, item.account_type, item.account_alias),
        external_ref=item.fintech_use_num,
        masked_number=item.account_num_masked,
    )


def account_list_query(user_seq_no: str) -> dict[str, str]:
    return {"user_seq_no": user_seq_no, "include_cancel_yn": "N", "sort_order": "D"}


def balance_query(account: AccountRef) -> dict[str, str]:
    """bank_tran_id and tran_dtime are stamped per attempt by the client."""
    return {"fintech_use_num": account.external_ref}


def cash_balance(reply: BalanceReply, account: AccountRef, as_of: datetime) -> CashBalance:
    """deposit = balance_amt (signed), withdrawable = available_amt (출금가능금액, spec §2.3).

    The relay reports no orderable figure, so `orderable` stays None.
    """
    available = reply.available_amt.strip()
    return CashBalance(
        account=account,
        deposit=to_money(reply.balance_amt, field="balance_amt"),
        as_of=as_of,
        withdrawable=to_money(available, field="available_amt") if available else None,
    )


# --- transactions -----------------------------------------------------------------------------


def transactions_query(
    account: AccountRef, start: date, end: date, cursor: str | None
) -> dict[str, str]:
    """Every row of [start, end] (KST dates), oldest first. The cursor is omitted on page one."""
    query = {
        "fintech_use_num": account.external_ref,
        "inquiry_type": "A",
        "inquiry_base": "D",
        "from_date": ymd(start),
        "to_date": ymd(end),
        "sort_order": "A",
    }
    if cursor is not None:
        query["befor_inquiry_trace_info"] = cursor
    return query


def row_key(item: TransactionItem) -> tuple[str, ...]:
    """The fields that identify a row (the relay has no transaction id, spec §2.4)."""
    return (
        item.tran_date,
        item.tran_time,
        item.inout_type,
        item.tran_amt,
        item.after_balance_amt,
        item.print_content,
    )


def transaction_of(item: TransactionItem, account: AccountRef, occurrence: int) -> Transaction:
    """One history row. `occurrence` tells apart identical rows within the same second."""
    if item.inout_type == _OTHER:
        direction = Direction.IN
        if to_money(item.tran_amt, field="tran_amt") != 0:
            raise ValueError("기타 rows carry no amount (spec §2.4)")
    else:
        known = _DIRECTIONS.get(item.inout_type)
        if known is None:
            raise ValueError("unknown inout_type")
        direction = known
    key = "|".join((account.external_ref, *row_key(item), str(occurrence)))
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    after = item.after_balance_amt.strip()
    description = " ".join(p for p in (item.tran_type, item.print_content) if p)
    return Transaction(
        account=account,
        tx_id=f"{item.tran_date}{item.tran_time}-{digest}",
        occurred_at=_occurred_at(item.tran_date, item.tran_time),
        direction=direction,
        amount=to_money(item.tran_amt, field="tran_amt"),
        balance_after=to_money(after, field="after_balance_amt") if after else None,
        description=description[:200],
    )


# --- tokens -----------------------------------------------------------------------------------


def stored_token(
    reply: TokenReply, now: datetime, *, previous_refresh: str | None = None
) -> StoredToken:
    """The token answer as stored; a refresh answer without a refresh token keeps the old one."""
    seconds = int(reply.expires_in) if reply.expires_in.strip() else 0
    if seconds <= 0:
        raise ValueError("expires_in missing")
    return StoredToken(
        access_token=reply.access_token,
        expires_at=now + timedelta(seconds=seconds),
        scope=reply.scope,
        refresh_token=reply.refresh_token or previous_refresh,
        user_seq_no=reply.user_seq_no or None,
        client_use_code=reply.client_use_code or None,
    )


# --- transfers --------------------------------------------------------------------------------


def deposit_body(
    settings: TransferSettings, transfer: TransferRecord, target: str, now: datetime
) -> dict[str, Any]:
    """입금이체 fin_num (spec §2.6): one req_list item, every value a string (§8.7)."""
    pass_phrase = settings.wd_pass_phrase
    return {
        "cntr_account_type": settings.cntr_account_type,
        "cntr_account_num": settings.cntr_account_num or "",
        "wd_pass_phrase": pass_phrase.get_secret_value() if pass_phrase else "",
        "wd_print_content": settings.wd_print_content,
        "name_check_option": settings.name_check_option,
        "tran_dtime": tran_dtime(now),
        "req_cnt": "1",
        "req_list": [
            {
                "tran_no": "1",
                "bank_tran_id": transfer.bank_tran_id,
                "fintech_use_num": target,
                "print_content": settings.print_content,
                "tran_amt": amount_text(transfer.amount),
                "req_client_name": settings.req_client_name,
                "req_client_fintech_use_num": target,
                "req_client_num": settings.req_client_num,
                "transfer_purpose": settings.transfer_purpose,
            }
        ],
    }


def result_body(transfer: TransferRecord, day: str, now: datetime) -> dict[str, Any]:
    """이체결과조회 (spec §2.7) for one deposit (check_type 2)."""
    return {
        "check_type": "2",
        "tran_dtime": tran_dtime(now),
        "req_cnt": "1",
        "req_list": [
            {
                "tran_no": "1",
                "org_bank_tran_id": transfer.bank_tran_id,
                "org_bank_tran_date": day,
                "org_tran_amt": amount_text(transfer.amount),
            }
        ],
    }


def amount_text(amount: Decimal) -> str:
    """N(12) whole KRW as digits; anything else is our bug."""
    if amount != amount.to_integral_value() or amount <= 0 or amount >= Decimal(10) ** 12:
        raise ValueError("transfer amounts are whole positive KRW below 10^12")
    return str(int(amount))
