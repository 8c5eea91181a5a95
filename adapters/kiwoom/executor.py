"""KRX cash orders through Kiwoom (kt10000/kt10001/kt10003), behind the OrderExecutor port."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta

import structlog

from adapters.kiwoom import mapping
from adapters.kiwoom.client import KiwoomClient
from adapters.kiwoom.endpoints import BUY, CANCEL, HISTORY, SELL
from adapters.kiwoom.errors import boundary
from adapters.kiwoom.schemas import HistoryRow, OrderReply
from orchestrator.domain.errors import OrderOutcomeUnknown, OrderRejected
from orchestrator.domain.model import AccountRef, OrderIntent, OrderReport, Side
from orchestrator.ports import Clock

log = structlog.get_logger(__name__)

OnChange = Callable[[AccountRef], None]
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
    """

    def __init__(
        self, client: KiwoomClient, *, clock: Clock, on_change: OnChange | None = None
    ) -> None:
        self._client = client
        self._clock = clock
        self._on_change = on_change

    @property
    def name(self) -> str:
        return self._client.source

    async def submit(self, intent: OrderIntent) -> OrderReport:
        tr = BUY if intent.side is Side.BUY else SELL
        body = mapping.order_body(intent, self._client.settings.venue)
        try:
            reply = await self._client.send(tr, body, sending_order=True)
            with boundary(self.name, sending_order=True):
                report = mapping.report_from_order(
                    OrderReply.parse(reply.data), intent, self._clock.now()
                )
        except OrderRejected as e:
            log.info("kiwoom.order_rejected", intent_id=intent.id, code=e.code)
            raise
        except OrderOutcomeUnknown as e:
            log.warning("kiwoom.order_outcome_unknown", intent_id=intent.id, reason=e.detail)
            self._changed(intent.account)
            raise
        self._changed(intent.account)
        log.info(
            "kiwoom.order_accepted",
            intent_id=intent.id,
            order_id=report.order_id,
            symbol=intent.symbol,
            side=str(intent.side),
            quantity=intent.quantity,
        )
        return report

    async def cancel(self, order: OrderReport) -> OrderReport:
        """kt10003 with `cncl_qty` "0": the whole unfilled remainder."""
        body = mapping.cancel_body(order, self._client.settings.venue)
        try:
            await self._client.send(CANCEL, body, sending_order=True)
        except OrderRejected as e:
            log.info("kiwoom.cancel_rejected", order_id=order.order_id, code=e.code)
            raise
        except OrderOutcomeUnknown:
            log.warning("kiwoom.cancel_outcome_unknown", order_id=order.order_id)
            self._changed(order.account)
            raise
        self._changed(order.account)
        log.info("kiwoom.order_cancelled", order_id=order.order_id)
        return mapping.cancelled(order)

    async def orders_since(self, account: AccountRef, since: datetime) -> Sequence[OrderReport]:
        """Every order kt00007 lists for the account placed at or after `since`, oldest first."""
        today = mapping.kst_day(self._clock.now())
        rows = await read_history(self._client, mapping.kst_day(since), today)
        with boundary(self.name):
            reports = mapping.reports_from_history(rows, account)
        return [report for report in reports if report.placed_at >= since]

    def _changed(self, account: AccountRef) -> None:
        if self._on_change is not None:
            self._on_change(account)
