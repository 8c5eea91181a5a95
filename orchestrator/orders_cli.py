"""Bodies of `orchestrator orders place | cancel | list`, as plain functions over an OrderService.

cli.py parses the arguments, builds the service through bootstrap and prints what these return;
keeping the bodies here lets them be tested without typer and keeps vendor code out of them.
Exit codes follow cli.py: 0 done, 1 the order did not go through (or is still unknown), 2 usage.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from orchestrator.domain.errors import InvalidInput
from orchestrator.domain.model import AccountRef, OrderState, OrderType, Side
from orchestrator.domain.money import krw, to_money
from orchestrator.domain.timeutil import to_kst
from orchestrator.ports.orders import OrderRecord
from orchestrator.services.orders import OrderRequest, OrderService

_FAILED = frozenset({OrderState.REJECTED, OrderState.NOT_FOUND, OrderState.UNKNOWN})


@dataclass(frozen=True, slots=True)
class CommandResult:
    text: str
    exit_code: int = 0


async def place_command(
    service: OrderService,
    account: AccountRef,
    *,
    symbol: str,
    side: str,
    quantity: int,
    price: str | None = None,
    key: str | None = None,
    actor: str = "cli",
) -> CommandResult:
    """Place one order (limit with `price`, market without). Runs start-up recovery first, since
    a CLI process is a new start. Without `key` a fresh one is made and printed: pass it again
    to repeat the command safely after a timeout."""
    if side.lower() not in {s.value for s in Side}:
        return CommandResult(
            f"invalid order: --side: {side!r} is not buy or sell; nothing was written", 2
        )
    try:
        request = OrderRequest(
            idempotency_key=key or f"cli-{uuid.uuid4().hex}",
            account=account,
            symbol=symbol,
            side=Side(side.lower()),
            quantity=quantity,
            order_type=OrderType.LIMIT if price is not None else OrderType.MARKET,
            limit_price=None if price is None else to_money(price, field="price"),
        )
        service.check_input(request)
        request.intent("check", datetime.now(UTC))  # refuses a bad order before recovery runs
    except InvalidInput as e:
        return CommandResult(f"invalid order: --{e.field}: {e.detail}; nothing was written", 2)
    except (ValueError, TypeError) as e:
        return CommandResult(f"invalid order: {e}; nothing was written", 2)
    if not service.ready:
        await service.recover()
    record = await service.place(request, actor=actor)
    text = f"{describe(record)}\nidempotency key: {record.intent.idempotency_key}"
    return CommandResult(text, 1 if record.state in _FAILED else 0)


async def cancel_command(
    service: OrderService, intent_id: str, *, actor: str = "cli"
) -> CommandResult:
    """Cancel the unfilled remainder of one of our orders (sent at most once)."""
    record = await service.cancel(intent_id, actor=actor)
    unsettled = record.cancel_state is not None and record.cancel_state.unresolved
    return CommandResult(describe(record), 1 if unsettled else 0)


async def list_command(
    service: OrderService,
    *,
    user_id: str | None = None,
    account_id: str | None = None,
    states: Sequence[str] = (),
    limit: int = 50,
) -> CommandResult:
    """The newest orders as a table, optionally filtered by user, account and states."""
    allowed = {s.value for s in OrderState}
    unknown = sorted({s.lower() for s in states} - allowed)
    if unknown:
        names = ", ".join(sorted(allowed))
        return CommandResult(f"--state: unknown {', '.join(unknown)} (one of: {names})", 2)
    wanted = {OrderState(s.lower()) for s in states} or None
    records = await service.list_orders(
        user_id=user_id, account_id=account_id, states=wanted, limit=limit
    )
    return CommandResult(format_orders(records))


def describe(record: OrderRecord) -> str:
    """One line a person can read: what, where, and what became of it."""
    intent = record.intent
    price = "market" if intent.limit_price is None else f"@ ₩{krw(intent.limit_price)}"
    line = (
        f"{record.id} {intent.side.value} {intent.quantity} {intent.symbol} {price}"
        f" [{intent.account.account_id}] -> {record.state.value}"
    )
    if record.broker_order_id:
        line += f" (order {record.broker_order_id}, branch {record.branch or '-'})"
    if record.reject_code:
        line += f" code {record.reject_code}"
        message = _vendor_message(record.last_error, record.reject_code)
        if message:
            line += f": {message}"
    if record.filled_quantity:
        line += f" filled {record.filled_quantity} avg ₩{krw(record.avg_fill_price)}"
    if record.cancel_state is not None:
        line += f" cancel {record.cancel_state.value}"
    return line


def _vendor_message(error: str | None, code: str) -> str:
    """The vendor's own words (KIS msg1, KFTC rsp_message) from the recorded error."""
    if not error:
        return ""
    text = error.split("] ", 1)[-1] if error.startswith("[") else error
    return text.removeprefix(code).strip()


def format_orders(records: Sequence[OrderRecord]) -> str:
    """A fixed-width table, times in KST."""
    if not records:
        return "no orders"
    header = ("created (KST)", "intent", "user", "account", "side", "qty", "symbol", "price")
    rows = [(*header, "state", "filled", "broker order")]
    for r in records:
        i = r.intent
        rows.append(
            (
                to_kst(i.created_at).strftime("%Y-%m-%d %H:%M:%S"),
                r.id,
                i.account.user_id,
                i.account.account_id,
                i.side.value,
                str(i.quantity),
                i.symbol,
                "market" if i.limit_price is None else krw(i.limit_price),
                r.state.value,
                str(r.filled_quantity),
                r.broker_order_id or "",
            )
        )
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
