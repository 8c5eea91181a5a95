"""The matching engine: open orders against the deterministic price path (spec §4.1 "acceptance
≠ fill").

Time is cut into 10-second steps. At each step an order that the step's price makes
marketable fills up to the volume the step offers; orders earlier in the book take that
volume first, so large orders fill partially over several steps. An order that is
marketable when it first meets the market fills at the market price; one that has rested
fills at its own limit when the path comes through it. Day orders expire at the end of their
window. The engine is lazy: each request first catches the book up to the sandbox time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, time

from adapters.sandbox.kis.clock import KST, SessionMode
from adapters.sandbox.kis.hours import TradingCalendar, can_match, window_end, window_for
from adapters.sandbox.kis.ledger import Account, Fees, Fill
from adapters.sandbox.kis.notices import NoticeLog
from adapters.sandbox.kis.orders import Order, OrderBook
from adapters.sandbox.kis.prices import PriceBook, step_of, step_start

_CONDITIONAL_TO_MARKET = time(15, 20)  # 조건부지정가 turns into a market order for the close


class Matcher:
    """Fills orders from the price path and books the fills on the accounts."""

    def __init__(
        self,
        env: str,
        prices: PriceBook,
        calendar: TradingCalendar,
        fees: Fees,
        notices: NoticeLog | None = None,
    ):
        self.env = env
        self.prices = prices
        self.calendar = calendar
        self.fees = fees
        self.notices = notices if notices is not None else NoticeLog()
        self._taken: defaultdict[tuple[str, int], int] = defaultdict(int)

    def catch_up(
        self,
        book: OrderBook,
        account_of: Callable[[str], Account],
        now: datetime,
        mode: SessionMode,
    ) -> None:
        """Run every live order through all steps up to `now`, oldest order first."""
        until = step_of(now)
        for order in book.live():
            self.run(order, account_of(order.account), until, mode)
        # Every live order has now seen every past step, so their volume is spent for good.
        for key in [k for k in self._taken if k[1] < until]:
            del self._taken[key]

    def run(self, order: Order, account: Account, until: int, mode: SessionMode) -> None:
        window = window_for(order.division.window, self.env)
        expiry = window_end(order.trade_date, window)
        step = order.cursor
        while step <= until and order.live:
            at = step_start(step)
            if mode == "closed":
                break
            if mode == "auto" and at >= expiry:
                self._close(order, account, expired=True)
                return
            if not can_match(at, window, mode, self.calendar) or not self._auction_mark(order, at):
                opening = datetime.combine(at.date(), window.match_from, tzinfo=KST)
                step = max(step + 1, step_of(opening)) if at < opening else step + 1
                continue
            self._try(order, account, step, at, mode)
            step += 1
            if order.division.tif != "day":
                break  # IOC/FOK meet the market once
        order.cursor = max(order.cursor, until + 1)
        if order.live and order.division.tif != "day" and order.cursor > step_of(order.placed_at):
            self._close(order, account, expired=False)

    def _auction_mark(self, order: Order, at: datetime) -> bool:
        # 시간외 단일가 matches every 10 minutes, not continuously.
        return order.division.pricing != "single" or (at.minute % 10 == 0 and at.second == 0)

    def _reference_price(self, order: Order, at: datetime, mode: SessionMode) -> int:
        day = at.astimezone(KST).date()
        pricing = order.division.pricing
        if pricing == "prev_close":
            return self.prices.prev_close(order.pdno, day)
        if pricing in ("close", "single"):
            return self.prices.close(order.pdno, day)
        return self.prices.price(order.pdno, at, mode)

    def _try(
        self, order: Order, account: Account, step: int, at: datetime, mode: SessionMode
    ) -> None:
        price = self._reference_price(order, at, mode)
        if not order.triggered:
            if (price >= order.trigger_price) if order.is_buy else (price <= order.trigger_price):
                order.triggered = True
            else:
                return
        limit = order.limit
        local_time = at.astimezone(KST).time()
        if order.division.pricing == "conditional" and local_time >= _CONDITIONAL_TO_MARKET:
            limit = None
        if limit is not None and (price > limit if order.is_buy else price < limit):
            order.rested = True
            return
        available = self.prices.liquidity(order.pdno, step) - self._taken[(order.pdno, step)]
        if order.division.tif == "fok" and available < order.remaining:
            return
        qty = min(order.remaining, available)
        if qty <= 0:
            order.rested = True
            return
        fill_price = limit if (order.rested and limit is not None) else price
        self._taken[(order.pdno, step)] += qty
        self._fill(order, account, qty, fill_price, at)
        order.rested = True

    def _fill(self, order: Order, account: Account, qty: int, price: int, at: datetime) -> None:
        trade_date = at.astimezone(KST).date()
        amount = qty * price
        kind = self.prices.symbols[order.pdno].kind
        fill = Fill(
            odno=order.odno,
            pdno=order.pdno,
            side=order.side,
            qty=qty,
            price=price,
            at=at,
            trade_date=trade_date,
            settle_date=self.calendar.add_trading_days(trade_date, 2),
            fee=self.fees.commission(amount),
            tax=self.fees.tax(amount, order.side, kind),
        )
        order.filled_qty += qty
        order.filled_amount += amount
        account.apply_fill(fill)
        self.notices.filled(order, qty, price, at)
        if order.remaining == 0:
            order.live = False

    def _close(self, order: Order, account: Account, *, expired: bool) -> None:
        """End an order's life: a day order expires, an IOC/FOK remainder is cancelled."""
        if not expired:
            remainder = order.remaining
            order.cancelled_qty += remainder
            if remainder:
                at = step_start(max(order.cursor - 1, step_of(order.placed_at)))
                self.notices.remainder_cancelled(order, remainder, at)
        order.live = False
        order.expired = expired
        account.orders_version += 1
