"""Order and fill notices (H0STCNI0 real / H0STCNI9 paper) as the matching engine makes them
(spec §7.2: notice record of 26 fields, `CNTG_YN` 2 = fill, 1 = order/modify/cancel/reject
acknowledgement).

Every accept, fill, modify, cancel and reject appends one record to the `NoticeLog`, which is
part of the broker's state (plain data, numbered, so a websocket session can resume from a
sequence number). Sessions read it and encrypt what their subscriptions cover.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from adapters.sandbox.kis.ledger import BUY
from adapters.sandbox.kis.wire import kst_time

if TYPE_CHECKING:
    from adapters.sandbox.kis.orders import Order

# Column order of the domestic execution notice (26 fields since 2025, python-kis#68).
NOTICE_FIELDS: tuple[str, ...] = (
    "CUST_ID",
    "ACNT_NO",
    "ODER_NO",
    "OODER_NO",
    "SELN_BYOV_CLS",
    "RCTF_CLS",
    "ODER_KIND",
    "ODER_COND",
    "STCK_SHRN_ISCD",
    "CNTG_QTY",
    "CNTG_UNPR",
    "STCK_CNTG_HOUR",
    "RFUS_YN",
    "CNTG_YN",
    "ACPT_YN",
    "BRNC_NO",
    "ODER_QTY",
    "ACNT_NAME",
    "ORD_COND_PRC",
    "ORD_EXG_GB",
    "POPUP_YN",
    "FILLER",
    "CRDT_CLS",
    "CRDT_LOAN_DATE",
    "CNTG_ISNM40",
    "ODER_PRC",
)
# RCTF_CLS: 0 new, 1 modify, 2 cancel. ACPT_YN: 1 received, 2 confirmed, 3 cancelled (IOC/FOK).
_RCTF = {"new": "0", "modify": "1", "cancel": "2"}
_KEEP = 10_000  # records kept; a session further behind than this has lost them (as at KIS)


@dataclass(slots=True)
class Notice:
    """One notice: the account it concerns and its 26 field values, in NOTICE_FIELDS order."""

    seq: int
    account: str
    values: tuple[str, ...]

    def field(self, name: str) -> str:
        return self.values[NOTICE_FIELDS.index(name)]


@dataclass(slots=True)
class NoticeLog:
    """The numbered notices of one environment; names of symbols for CNTG_ISNM40."""

    names: dict[str, str] = field(default_factory=dict)
    records: list[Notice] = field(default_factory=list)
    next_seq: int = 1

    def since(self, seq: int) -> list[Notice]:
        """Notices numbered `seq` or later that are still kept."""
        if not self.records or seq > self.records[-1].seq:
            return []
        start = max(0, seq - self.records[0].seq)
        return self.records[start:]

    def _add(self, account: str, values: dict[str, str]) -> Notice:
        notice = Notice(self.next_seq, account, tuple(values.get(f, "") for f in NOTICE_FIELDS))
        self.next_seq += 1
        self.records.append(notice)
        if len(self.records) > _KEEP:
            del self.records[: len(self.records) - _KEEP]
        return notice

    def _base(self, order: Order, at: datetime) -> dict[str, str]:
        return {
            "ACNT_NO": order.account.replace("-", ""),
            "ODER_NO": order.odno,
            "OODER_NO": order.orgn_odno,
            "SELN_BYOV_CLS": "02" if order.side == BUY else "01",
            "RCTF_CLS": _RCTF[order.kind],
            "ODER_KIND": order.division.code,
            "ODER_COND": "0",
            "STCK_SHRN_ISCD": order.pdno,
            "STCK_CNTG_HOUR": kst_time(at),
            "RFUS_YN": "0",
            "BRNC_NO": order.orgno,
            "ODER_QTY": str(order.qty),
            "ORD_COND_PRC": str(order.trigger_price) if order.trigger_price else "",
            "ORD_EXG_GB": "1",
            "POPUP_YN": "Y",
            "CRDT_CLS": "10",
            "CNTG_ISNM40": self.names.get(order.pdno, order.pdno),
            "ODER_PRC": str(order.unit_price),
        }

    def acknowledged(self, order: Order, at: datetime) -> Notice:
        """A new order, modification or cancellation received (CNTG_YN 1, ACPT_YN 1 or 2)."""
        values = self._base(order, at)
        confirmed = order.kind != "new"
        values |= {
            "CNTG_QTY": str(order.qty),
            "CNTG_UNPR": "0",
            "CNTG_YN": "1",
            "ACPT_YN": "2" if confirmed else "1",
        }
        return self._add(order.account, values)

    def filled(self, order: Order, qty: int, price: int, at: datetime) -> Notice:
        """A fill of `qty` shares at `price` (CNTG_YN 2)."""
        values = self._base(order, at) | {
            "CNTG_QTY": str(qty),
            "CNTG_UNPR": str(price),
            "CNTG_YN": "2",
            "ACPT_YN": "2",
        }
        return self._add(order.account, values)

    def remainder_cancelled(self, order: Order, qty: int, at: datetime) -> Notice:
        """An IOC/FOK remainder the exchange cancelled (ACPT_YN 3)."""
        values = self._base(order, at) | {
            "RCTF_CLS": "2",
            "CNTG_QTY": str(qty),
            "CNTG_UNPR": "0",
            "CNTG_YN": "1",
            "ACPT_YN": "3",
        }
        return self._add(order.account, values)

    def rejected(
        self,
        account: str,
        *,
        pdno: str,
        buy: bool,
        division: str,
        qty: str,
        price: str,
        branch: str,
        at: datetime,
    ) -> Notice:
        """An order refused after it reached the broker (RFUS_YN 1); it has no order number."""
        values = {
            "ACNT_NO": account.replace("-", ""),
            "ODER_NO": "",
            "SELN_BYOV_CLS": "02" if buy else "01",
            "RCTF_CLS": "0",
            "ODER_KIND": division,
            "ODER_COND": "0",
            "STCK_SHRN_ISCD": pdno,
            "CNTG_QTY": qty,
            "CNTG_UNPR": "0",
            "STCK_CNTG_HOUR": kst_time(at),
            "RFUS_YN": "1",
            "CNTG_YN": "1",
            "ACPT_YN": "1",
            "BRNC_NO": branch,
            "ODER_QTY": qty,
            "ORD_EXG_GB": "1",
            "POPUP_YN": "Y",
            "CRDT_CLS": "10",
            "CNTG_ISNM40": self.names.get(pdno, pdno),
            "ODER_PRC": price,
        }
        return self._add(account, values)
