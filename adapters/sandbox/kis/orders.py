"""Orders as the broker books them: new orders, modifications and cancellations (spec §4.1, §4.2).

A modification or cancellation is itself an order with a new ODNO that points at the
original through `orgn_odno`, as KIS reports them in daily-ccld. The original gives up the
quantity it moved (modify) or lost (cancel); it keeps its filled quantity.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from adapters.sandbox.kis.clock import KST
from adapters.sandbox.kis.divisions import Division
from adapters.sandbox.kis.ledger import BUY, Side

OrderKind = Literal["new", "modify", "cancel"]


@dataclass(slots=True)
class Order:
    """One row of the order list. Quantities are shares, prices int KRW."""

    odno: str
    orgno: str
    account: str
    pdno: str
    side: Side
    division: Division
    qty: int
    unit_price: int
    trigger_price: int
    venue: str
    placed_at: datetime
    kind: OrderKind = "new"
    orgn_odno: str = ""
    limit: int | None = None  # None: takes whatever price the market gives
    reserve_price: int = 0  # per share held back from orderable cash while a buy is open
    filled_qty: int = 0
    filled_amount: int = 0
    cancelled_qty: int = 0
    moved_qty: int = 0
    live: bool = True
    expired: bool = False
    triggered: bool = True
    rested: bool = False  # has met the market once without completing (fills at its limit since)
    cursor: int = 0  # next price step the matcher has to look at

    @property
    def remaining(self) -> int:
        if self.kind == "cancel":
            return 0
        return self.qty - self.filled_qty - self.cancelled_qty - self.moved_qty

    @property
    def open_qty(self) -> int:
        """Quantity that can still trade, be modified or be cancelled."""
        return self.remaining if self.live else 0

    @property
    def is_buy(self) -> bool:
        return self.side == BUY

    @property
    def trade_date(self) -> date:
        return self.placed_at.astimezone(KST).date()


class OrderBook:
    """Every order of one environment, numbered from the seed's first order number."""

    def __init__(self, first_number: int, branch: str) -> None:
        self.branch = branch
        self.orders: list[Order] = []
        self._by_number: dict[int, Order] = {}
        self._next = first_number

    def next_odno(self) -> str:
        number, self._next = self._next, self._next + 1
        return f"{number:010d}"

    def add(self, order: Order) -> None:
        self.orders.append(order)
        self._by_number[int(order.odno)] = order

    def find(self, odno: str) -> Order | None:
        """The order numbered `odno`; clients may strip the zero padding."""
        return self._by_number.get(int(odno)) if odno.isdigit() else None

    def live(self) -> list[Order]:
        return [order for order in self.orders if order.live]

    def of_account(self, number: str) -> list[Order]:
        return [order for order in self.orders if order.account == number]
