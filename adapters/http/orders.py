"""The order path every broker executor shares around its vendor's own requests.

A write is sent once by the vendor's `send` (the resilient layer resends only a refusal before
acceptance). What follows is the same at every broker: a business refusal (`OrderRejected`) is
logged and raised; an unknown outcome (`OrderOutcomeUnknown`: lost reply, 5xx) is logged, the
account is reported as possibly changed (its display cache is dropped) and it is raised, so the
order service settles it from the broker's order list and never sends it again; success is
reported as a change and logged. The events are the vendor's own, named where it declares its
`OrderEvents` (`kis.order_accepted`, ...), so each name stays written out once.

Reading the order list back is the vendor's too; `listed_since` is the one cut every executor's
`orders_since` makes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

import structlog

from adapters.http.krx import cancelled
from orchestrator.domain.errors import OrderOutcomeUnknown, OrderRejected
from orchestrator.domain.model import AccountRef, OrderIntent, OrderReport

log = structlog.get_logger(__name__)

OnChange = Callable[[AccountRef], None]


def listed_since(reports: Iterable[OrderReport], since: datetime) -> list[OrderReport]:
    """The listed orders placed at or after `since`, in the order listed (oldest first)."""
    return [report for report in reports if report.placed_at >= since]


@dataclass(frozen=True, slots=True)
class OrderEvents:
    """The log event names of one vendor's order writes."""

    accepted: str
    rejected: str
    outcome_unknown: str
    cancelled: str
    cancel_rejected: str
    cancel_outcome_unknown: str


class OrderWrites:
    """Submit and cancel around a vendor's `send`, with the shared outcome handling above."""

    def __init__(self, events: OrderEvents, on_change: OnChange | None = None) -> None:
        self._events = events
        self._on_change = on_change

    async def submit(
        self, intent: OrderIntent, send: Callable[[], Awaitable[OrderReport]]
    ) -> OrderReport:
        """The broker's acknowledgement of the order `send` sent once."""
        events = self._events
        try:
            report = await send()
        except OrderRejected as e:
            log.info(events.rejected, intent_id=intent.id, symbol=intent.symbol, code=e.code)
            raise
        except OrderOutcomeUnknown as e:
            log.warning(
                events.outcome_unknown,
                intent_id=intent.id,
                symbol=intent.symbol,
                reason=e.detail,
            )
            self.changed(intent.account)
            raise
        self.changed(intent.account)
        log.info(
            events.accepted,
            intent_id=intent.id,
            order_id=report.order_id,
            symbol=intent.symbol,
            side=str(intent.side),
            quantity=intent.quantity,
        )
        return report

    async def cancel(
        self, order: OrderReport, send: Callable[[], Awaitable[Mapping[str, object]]]
    ) -> OrderReport:
        """`order` marked cancelled once `send` (which returns fields to log) went through."""
        events = self._events
        try:
            logged = await send()
        except OrderRejected as e:
            log.info(events.cancel_rejected, order_id=order.order_id, code=e.code)
            raise
        except OrderOutcomeUnknown:
            log.warning(events.cancel_outcome_unknown, order_id=order.order_id)
            self.changed(order.account)
            raise
        self.changed(order.account)
        log.info(events.cancelled, order_id=order.order_id, **logged)
        return cancelled(order)

    def changed(self, account: AccountRef) -> None:
        if self._on_change is not None:
            self._on_change(account)
