"""KRX cash orders through Kiwoom (kt10000/kt10001/kt10003), behind the OrderExecutor port."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

import structlog

from adapters.http.krx import kst_day
from adapters.http.orders import OnChange, OrderEvents, OrderWrites, listed_since
from adapters.kiwoom import mapping
from adapters.kiwoom.client import KiwoomClient
from adapters.kiwoom.endpoints import BUY, CANCEL, HISTORY, SELL
from adapters.kiwoom.errors import boundary
from adapters.kiwoom.schemas import HistoryRow, OrderReply
from orchestrator.domain.model import AccountRef, OrderIntent, OrderReport, Side
from orchestrator.ports import Clock

log = structlog.get_logger(__name__)

EVENTS = OrderEvents(
    accepted="kiwoom.order_accepted",
    rejected="kiwoom.order_rejected",
    outcome_unknown="kiwoom.order_outcome_unknown",
    cancelled="kiwoom.order_cancelled",
    cancel_rejected="kiwoom.cancel_rejected",
    cancel_outcome_unknown="kiwoom.cancel_outcome_unknown",
)
MAX_HISTORY_DAYS = 31  # kt00007 is asked day by day; older intents are long settled


async def read_history(
    client: KiwoomClient, start: date, end: date
) -> list[tuple[str, HistoryRow]]:
    """kt00007 rows of every KST day in [start, end], every page, each with its day."""
    start = max(min(start, end), end - timedelta(days=MAX_HISTORY_DAYS))
    rows: list[tuple[str, HistoryRow]] = []
    day = start
    while day <= end:
        pages = await client.pages(HISTORY, mapping.history_body(day))
        stamp = day.strftime("%Y%m%d")
        with boundary(client.source):
            for page in pages:
                for raw in page.get(HISTORY.rows) or []:
                    rows.append((stamp, HistoryRow.parse(raw)))
        day += timedelta(days=1)
    return rows


class KiwoomOrderExecutor:
    """Places and cancels orders on the Kiwoom host the client targets (real or mock).

    `submit` sends once through the resilient layer as a write: again only after a refusal
    before acceptance (1700/429, or a token refused and renewed), never after a lost reply or a
    5xx, which raise OrderOutcomeUnknown (settle with `orders_since`, read from kt00007).
    Outcomes are handled and logged (`kiwoom.order_*`, `kiwoom.cancel_*`) by the shared
    `adapters.http.orders`.
    """

    def __init__(
        self, client: KiwoomClient, *, clock: Clock, on_change: OnChange | None = None
    ) -> None:
        self._client = client
        self._clock = clock
        self._writes = OrderWrites(EVENTS, on_change)

    @property
    def name(self) -> str:
        return self._client.source

    async def submit(self, intent: OrderIntent) -> OrderReport:
        tr = BUY if intent.side is Side.BUY else SELL
        body = mapping.order_body(intent, self._client.settings.venue)

        async def send() -> OrderReport:
            reply = await self._client.send(tr, body, sending_order=True)
            with boundary(self.name, sending_order=True):
                return mapping.report_from_order(
                    OrderReply.parse(reply.data), intent, self._clock.now()
                )

        return await self._writes.submit(intent, send)

    async def cancel(self, order: OrderReport) -> OrderReport:
        """kt10003 with `cncl_qty` "0": the whole unfilled remainder."""
        body = mapping.cancel_body(order, self._client.settings.venue)

        async def send() -> dict[str, object]:
            await self._client.send(CANCEL, body, sending_order=True)
            return {}

        return await self._writes.cancel(order, send)

    async def orders_since(self, account: AccountRef, since: datetime) -> Sequence[OrderReport]:
        """Every order kt00007 lists for the account placed at or after `since`, oldest first."""
        today = kst_day(self._clock.now())
        rows = await read_history(self._client, kst_day(since), today)
        with boundary(self.name):
            return listed_since(mapping.reports_from_history(rows, account), since)
