"""Identifier and field formats of the relay (spec §4), and KST time helpers.

KFTC stamps everything in Korea Standard Time without an offset in the string; Korea has no DST,
so a fixed +09:00 offset is exact and avoids depending on a tz database.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone
from typing import Final

KST: Final = timezone(timedelta(hours=9), "KST")

BANK_TRAN_ID_RE: Final = re.compile(r"[A-Z0-9]{10}U[A-Z0-9]{9}")
CLIENT_USE_CODE_RE: Final = re.compile(r"[A-Z0-9]{10}")
FINTECH_USE_NUM_RE: Final = re.compile(r"[0-9]{24}")
USER_SEQ_NO_RE: Final = re.compile(r"[0-9]{10}")
BANK_CODE_RE: Final = re.compile(r"[0-9]{3}")
AMOUNT_RE: Final = re.compile(r"[0-9]{1,12}")
DIGITS_RE: Final = re.compile(r"[0-9]+")


def to_kst(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("the sandbox clock must return timezone-aware datetimes")
    return moment.astimezone(KST)


def fmt_date(moment: datetime | date) -> str:
    return moment.strftime("%Y%m%d")


def fmt_time(moment: datetime) -> str:
    return moment.strftime("%H%M%S")


def fmt_dtime(moment: datetime) -> str:
    """N(14) ``yyyyMMddHHmmss`` in KST (tran_dtime, *_agree_dtime)."""
    return to_kst(moment).strftime("%Y%m%d%H%M%S")


def fmt_dtm(moment: datetime) -> str:
    """N(17) ``yyyyMMddHHmmssSSS`` in KST (api_tran_dtm)."""
    local = to_kst(moment)
    return local.strftime("%Y%m%d%H%M%S") + f"{local.microsecond // 1000:03d}"


def parse_date(text: str) -> date | None:
    if len(text) != 8 or not DIGITS_RE.fullmatch(text):
        return None
    try:
        return date(int(text[0:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None


def parse_time(text: str) -> time | None:
    # "240000" is a classic tutorial bug (§8.10); time() rejects hour 24, which is what we want.
    if len(text) != 6 or not DIGITS_RE.fullmatch(text):
        return None
    try:
        return time(int(text[0:2]), int(text[2:4]), int(text[4:6]))
    except ValueError:
        return None


def parse_dtime(text: str) -> datetime | None:
    """Parse an N(14) KST timestamp; None when it is not a real calendar instant."""
    if len(text) != 14:
        return None
    day = parse_date(text[:8])
    clock = parse_time(text[8:])
    if day is None or clock is None:
        return None
    return datetime.combine(day, clock, tzinfo=KST)


def parse_amount(text: str) -> int | None:
    """N(12) unsigned amount carried as a JSON string (§4); None if not digits."""
    if not AMOUNT_RE.fullmatch(text):
        return None
    return int(text)


def mask_account_num(account_num: str) -> str:
    """Keep the leading characters and mask the last three with ``*`` (observed rule, §4)."""
    keep = max(len(account_num) - 3, 0)
    return account_num[:keep] + "*" * (len(account_num) - keep)
