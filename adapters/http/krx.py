"""KRX wire values both brokers write and read the same way (KIS spec §3, Kiwoom digest §3).

Prices and quantities go out as digit strings; dates and times are KST wall-clock stamps
(`YYYYMMDD`, `HHMMSS`, Kiwoom sometimes `HH:MM:SS`); a cancelled order keeps its fills.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time
from decimal import Decimal

from orchestrator.domain.model import OrderReport, OrderState
from orchestrator.domain.timeutil import KST, to_kst


def wire_int(value: Decimal | int) -> str:
    """A KRW price or a quantity as the brokers want it: digits only."""
    number = Decimal(value)
    if number != number.to_integral_value() or number < 0:
        raise ValueError(f"KRX prices and quantities are whole non-negative numbers, not {value}")
    return str(int(number))


def kst_date(at: datetime) -> str:
    """`YYYYMMDD` of an aware datetime in KST."""
    return to_kst(at).strftime("%Y%m%d")


def kst_day(at: datetime) -> date:
    return to_kst(at).date()


def parse_kst(day: str, clock: str = "") -> datetime | None:
    """`YYYYMMDD` (+ optional `HHMMSS` or `HH:MM:SS`) KST wall-clock strings as an aware
    datetime; None when unreadable."""
    day, clock = day.strip(), clock.strip().replace(":", "")
    try:
        parsed_day = date(int(day[:4]), int(day[4:6]), int(day[6:8]))
        parsed_time = (
            time(int(clock[:2]), int(clock[2:4]), int(clock[4:6])) if len(clock) == 6 else time(0)
        )
    except (ValueError, IndexError):
        return None
    return datetime.combine(parsed_day, parsed_time, tzinfo=KST)


def cancelled(report: OrderReport) -> OrderReport:
    """The report with its unfilled remainder cancelled (fills are kept)."""
    state = report.state
    if state in (OrderState.ACCEPTED, OrderState.PARTIALLY_FILLED):
        state = OrderState.CANCELLED
    return replace(report, cancelled=True, state=state)
