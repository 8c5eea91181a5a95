"""Order divisions (ORD_DVSN) and which venue/environment accepts them (spec §4.11).

Each code is reduced to how it prices (limit, market, best, …), how long it lives (day, IOC,
FOK) and in which session window it trades. Paper takes only 00–04 on KRX.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from adapters.sandbox.kis.hours import WindowName

Pricing = Literal[
    "limit",
    "market",
    "conditional",
    "best",
    "priority",
    "mid",
    "stop",
    "prev_close",
    "close",
    "single",
]
TimeInForce = Literal["day", "ioc", "fok"]


@dataclass(frozen=True, slots=True)
class Division:
    code: str
    name: str
    pricing: Pricing
    tif: TimeInForce = "day"
    window: WindowName = "regular"

    @property
    def needs_price(self) -> bool:
        """Whether ORD_UNPR must be a price on the tick grid (else it is "0" and ignored)."""
        return self.pricing in ("limit", "conditional", "stop", "single")


DIVISIONS: dict[str, Division] = {
    d.code: d
    for d in (
        Division("00", "지정가", "limit"),
        Division("01", "시장가", "market"),
        Division("02", "조건부지정가", "conditional"),
        Division("03", "최유리지정가", "best"),
        Division("04", "최우선지정가", "priority"),
        Division("05", "장전 시간외", "prev_close", window="pre_open"),
        Division("06", "장후 시간외", "close", window="post_close"),
        Division("07", "시간외 단일가", "single", window="after_hours"),
        Division("11", "IOC지정가", "limit", "ioc"),
        Division("12", "FOK지정가", "limit", "fok"),
        Division("13", "IOC시장가", "market", "ioc"),
        Division("14", "FOK시장가", "market", "fok"),
        Division("15", "IOC최유리", "best", "ioc"),
        Division("16", "FOK최유리", "best", "fok"),
        Division("21", "중간가", "mid"),
        Division("22", "스톱지정가", "stop"),
        Division("23", "중간가IOC", "mid", "ioc"),
        Division("24", "중간가FOK", "mid", "fok"),
    )
}

_IOC_FOK = {"11", "12", "13", "14", "15", "16"}
VENUE_DIVISIONS: dict[str, frozenset[str]] = {
    "KRX": frozenset(DIVISIONS),
    "NXT": frozenset({"00", "03", "04", "21", "22", "23", "24"} | _IOC_FOK),
    "SOR": frozenset({"00", "01", "03", "04"} | _IOC_FOK),
}
PAPER_DIVISIONS = frozenset({"00", "01", "02", "03", "04"})
