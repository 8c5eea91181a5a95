"""Accounts: cash deposit, positions, fills and their T+2 settlement (spec §4.3 cash fields).

KRX equities settle two business days after the trade. Until then a buy's cost and a sale's
proceeds are pending: the deposit (`dnca_tot_amt`) moves only on settlement, while the D+1
(`nxdy_excc_amt`) and D+2 (`prvs_rcdl_excc_amt`) figures already include them. All amounts
are int KRW.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Final, Literal

from adapters.sandbox.kis.seed import FeeSeed
from adapters.sandbox.kis.ticks import SymbolKind

Side = Literal["01", "02"]
SELL: Final = "01"
BUY: Final = "02"


@dataclass(frozen=True, slots=True)
class Fees:
    """Broker commission on every fill; securities tax on stock sales (ETFs are exempt)."""

    commission_rate: Decimal
    sell_tax_rate: Decimal

    @classmethod
    def from_seed(cls, seed: FeeSeed) -> Fees:
        return cls(seed.commission_rate, seed.sell_tax_rate)

    def commission(self, amount: int) -> int:
        return math.floor(amount * self.commission_rate)

    def tax(self, amount: int, side: Side, kind: SymbolKind) -> int:
        if side == BUY or kind == "etf":
            return 0
        return math.floor(amount * self.sell_tax_rate)

    def buy_cost(self, amount: int) -> int:
        """Cash a buy of `amount` ties up, commission included."""
        return amount + self.commission(amount)


@dataclass(frozen=True, slots=True)
class Fill:
    odno: str
    pdno: str
    side: Side
    qty: int
    price: int
    at: datetime
    trade_date: date
    settle_date: date
    fee: int
    tax: int

    @property
    def amount(self) -> int:
        return self.qty * self.price

    @property
    def cash_effect(self) -> int:
        """What the fill does to cash once settled: a buy pays, a sale receives."""
        if self.side == BUY:
            return -(self.amount + self.fee)
        return self.amount - self.fee - self.tax


@dataclass(slots=True)
class Position:
    pdno: str
    qty: int = 0
    cost: int = 0  # pchs_amt: what the held shares cost, fees excluded


@dataclass(slots=True)
class Account:
    """One securities account at the sandbox broker.

    `holdings_version` and `orders_version` change whenever a balance page or an order-list
    page could read differently; paging compares them to answer SYDB0050.
    """

    cano: str
    prdt: str
    deposit: int
    positions: dict[str, Position] = field(default_factory=dict)
    fills: list[Fill] = field(default_factory=list)
    unsettled: list[Fill] = field(default_factory=list)
    holdings_version: int = 0
    orders_version: int = 0

    @property
    def number(self) -> str:
        return f"{self.cano}-{self.prdt}"

    def pending_cash(self, through: date) -> int:
        return sum(f.cash_effect for f in self.unsettled if f.settle_date <= through)

    def settle(self, today: date) -> None:
        """Move every fill due by `today` into the deposit; drop positions sold out and settled."""
        due = [f for f in self.unsettled if f.settle_date <= today]
        if not due:
            return
        self.deposit += sum(f.cash_effect for f in due)
        self.unsettled = [f for f in self.unsettled if f.settle_date > today]
        still_settling = {f.pdno for f in self.unsettled}
        for pdno in [p for p, pos in self.positions.items() if pos.qty == 0]:
            if pdno not in still_settling:
                del self.positions[pdno]
        self.holdings_version += 1

    def apply_fill(self, fill: Fill) -> None:
        position = self.positions.setdefault(fill.pdno, Position(fill.pdno))
        if fill.side == BUY:
            position.qty += fill.qty
            position.cost += fill.amount
        else:
            # Average cost is unchanged by a sale, so the remaining cost shrinks pro rata.
            removed = position.cost * fill.qty // position.qty if position.qty else 0
            position.qty -= fill.qty
            position.cost = position.cost - removed if position.qty else 0
        self.fills.append(fill)
        self.unsettled.append(fill)
        self.holdings_version += 1
        self.orders_version += 1

    def fills_on(self, day: date) -> list[Fill]:
        return [f for f in self.fills if f.trade_date == day]
