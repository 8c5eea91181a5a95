"""KRX cash orders through KIS, behind the OrderExecutor port (spec §4.1, §4.2, §4.4)."""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import date, datetime, timedelta

import structlog

from adapters.http.krx import kst_day
from adapters.http.orders import OnChange, OrderEvents, OrderWrites, listed_since
from adapters.kis import mapping
from adapters.kis.client import KisClient
from adapters.kis.endpoints import (
    DAILY_CCLD,
    DAILY_CCLD_OLD,
    ORDER_CASH_BUY,
    ORDER_CASH_SELL,
    Endpoint,
)
from adapters.kis.endpoints import ORDER_RVSECNCL as CANCEL
from adapters.kis.errors import boundary
from adapters.kis.schemas import DailyPage, DailyRow, OrderReply
from orchestrator.domain.errors import OrderRejected
from orchestrator.domain.model import AccountRef, OrderIntent, OrderReport, Side
from orchestrator.ports import Clock

log = structlog.get_logger(__name__)

EVENTS = OrderEvents(
    accepted="kis.order_accepted",
    rejected="kis.order_rejected",
    outcome_unknown="kis.order_outcome_unknown",
    cancelled="kis.order_cancelled",
    cancel_rejected="kis.cancel_rejected",
    cancel_outcome_unknown="kis.cancel_outcome_unknown",
)


def months_back(day: date, months: int) -> date:
    """The same day `months` calendar months earlier (clamped to the month's last day)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


async def read_daily_rows(
    client: KisClient, account: AccountRef, start: date, end: date
) -> list[DailyRow]:
    """inquire-daily-ccld rows over [start, end] (KST days), every page; days older than three
    months come from the >3-month TR (spec §4.4)."""
    start = min(start, end)
    recent_from = months_back(end, 3)
    spans: list[tuple[Endpoint, date, date]] = []
    if start < recent_from:
        spans.append((DAILY_CCLD_OLD, start, recent_from - timedelta(days=1)))
    spans.append((DAILY_CCLD, max(start, recent_from), end))
    rows: list[DailyRow] = []
    for endpoint, first, last in spans:
        query = mapping.daily_query(account, first, last, client.env)
        pages = await client.pages(endpoint, query)
        with boundary(client.source):
            for page in pages:
                rows += DailyPage.parse(page).output1
    return rows


class KisOrderExecutor:
    """Places and cancels orders on the KIS host the client targets (real or paper).

    `submit` sends once through the resilient layer as a write: it is sent again only after a
    refusal before acceptance (EGW00201, or a token refused and renewed), never after a lost
    reply or a 5xx, which raise OrderOutcomeUnknown (settle with `orders_since`). Business
    refusals raise OrderRejected with KIS's code. `on_change(account)` runs after anything that
    may have moved cash or holdings (the account source drops its display cache). Outcomes are
    handled and logged (`kis.order_*`, `kis.cancel_*`) by the shared `adapters.http.orders`.
    """

    # ORD_QTY is a 10-character string field (spec §4.1): the most one request can carry.
    max_order_quantity = 9_999_999_999

    def __init__(
        self, client: KisClient, *, clock: Clock, on_change: OnChange | None = None
    ) -> None:
        self._client = client
        self._clock = clock
        self._writes = OrderWrites(EVENTS, on_change)

    @property
    def name(self) -> str:
        return self._client.source

    async def submit(self, intent: OrderIntent) -> OrderReport:
        """Send the order exactly once; the broker's acknowledgement (state ACCEPTED)."""
        endpoint = ORDER_CASH_BUY if intent.side is Side.BUY else ORDER_CASH_SELL
        body = mapping.cash_order_body(intent)  # a ValueError here is our bug, nothing was sent

        async def send() -> OrderReport:
            reply = await self._client.send(endpoint, body=body, sending_order=True)
            with boundary(self.name, sending_order=True):
                return mapping.report_from_order(
                    OrderReply.parse(reply.data), intent, self._clock.now()
                )

        return await self._writes.submit(intent, send)

    async def cancel(self, order: OrderReport) -> OrderReport:
        """Cancel the unfilled remainder (order-rvsecncl `02`, all remaining quantity).

        Returns `order` marked cancelled (its filled part stays). Needs the order's branch
        (KRX_FWDG_ORD_ORGNO); when the report lacks it, it is looked up in the daily order list.
        Raises OrderRejected (e.g. nothing left to cancel) or OrderOutcomeUnknown like submit.
        """
        if not order.branch:
            order = await self._with_branch(order)
        body = mapping.cancel_body(order)

        async def send() -> dict[str, object]:
            reply = await self._client.send(CANCEL, body=body, sending_order=True)
            return {"cancel_order_id": mapping.cancel_order_id(OrderReply.parse(reply.data))}

        return await self._writes.cancel(order, send)

    async def orders_since(self, account: AccountRef, since: datetime) -> Sequence[OrderReport]:
        """Every order KIS lists for the account placed at or after `since`, oldest first.

        Reads inquire-daily-ccld over every page (and the >3-month TR for older days), so an
        order whose reply was lost is found here. Safe to repeat.
        """
        today = kst_day(self._clock.now())
        rows = await read_daily_rows(self._client, account, kst_day(since), today)
        with boundary(self.name):
            return listed_since(mapping.reports_from_daily(rows, account), since)

    async def _with_branch(self, order: OrderReport) -> OrderReport:
        listed = await self.orders_since(order.account, order.placed_at - timedelta(minutes=5))
        for found in listed:
            if found.order_id.lstrip("0") == order.order_id.lstrip("0"):
                return found
        raise OrderRejected(self.name, f"order {order.order_id} is not in KIS's order list")
