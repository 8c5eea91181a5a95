"""Reconciliation as a pure function: expected book vs what the institutions say -> breaks.

The expected book of an account is its last accepted snapshot plus what we recorded since: our
fills (cash and shares), our transfers, and, for an account whose source reports its history, the
history itself. Anything that could still be moving (a fill seconds ago, an unresolved order, a
transfer inside its matching window) is not judged: it is reported as `Pending`, which keeps the
run from becoming the new baseline and keeps an already-open break of that identity open.

Transfers: an OUT transaction on an account configured with `transfers_to` is a transfer leg that
must arrive at that account within `transfer_window`. A destination that reports its own history is
matched line by line (same amount, in time); one that does not is matched through its cash: the
legs that arrived are the subset whose sum explains the unexplained cash change.

No I/O and no clock reads: `now` is an argument.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from itertools import combinations

from orchestrator.domain.model import (
    Break,
    BreakKind,
    CashBalance,
    Direction,
    OrderReport,
    OrderState,
    Position,
    Side,
    Snapshot,
    TransferState,
)
from orchestrator.domain.money import ZERO, check_money, check_quantity, krw
from orchestrator.domain.timeutil import check_aware, to_kst

MAX_KEY_LENGTH = 100
# Legs into one destination searched exhaustively (2**n subsets); beyond that, no subset search.
MAX_MATCHED_LEGS = 12


class CashField(StrEnum):
    """Which CashBalance figure an account is reconciled on."""

    DEPOSIT = "deposit"
    ORDERABLE = "orderable"
    WITHDRAWABLE = "withdrawable"

    def of(self, cash: CashBalance | None) -> Decimal | None:
        if cash is None:
            return None
        value: Decimal | None = getattr(cash, self.value)
        return value


@dataclass(frozen=True, slots=True)
class Tolerances:
    """How far apart expected and observed may be, and how long things may be in flight.

    cash: absolute KRW. fee_rate: extra KRW allowed per KRW traded since the baseline (commission
    and tax are not in our fills). too_recent: activity younger than this is not judged.
    transfer_window: how long a transfer may take to arrive. transfer_min: OUT transactions below
    this are not treated as transfers. stale_after: a cash figure older than this is stale.
    """

    cash: Decimal = ZERO
    fee_rate: Decimal = ZERO
    too_recent: timedelta = timedelta(seconds=120)
    transfer_window: timedelta = timedelta(hours=1)
    transfer_min: Decimal = ZERO
    stale_after: timedelta = timedelta(minutes=15)

    def __post_init__(self) -> None:
        check_money(self, "cash", "fee_rate", "transfer_min")
        if self.cash < ZERO or self.fee_rate < ZERO or self.transfer_min < ZERO:
            raise ValueError("tolerances must not be negative")


@dataclass(frozen=True, slots=True)
class RecordedFill:
    """A fill increment from our journal."""

    intent_id: str
    account_id: str
    symbol: str
    side: Side
    quantity: int
    filled_at: datetime
    price: Decimal | None = None

    def __post_init__(self) -> None:
        check_quantity(self, "quantity")
        check_money(self, "price")
        check_aware(self, "filled_at")

    @property
    def signed_quantity(self) -> int:
        return self.quantity if self.side is Side.BUY else -self.quantity

    @property
    def cash_effect(self) -> Decimal | None:
        """Signed cash change before fees; None when the price was not recorded."""
        if self.price is None:
            return None
        gross = self.price * self.quantity
        return -gross if self.side is Side.BUY else gross


@dataclass(frozen=True, slots=True)
class RecordedOrder:
    """An order intent from our journal, with the latest state we know of it."""

    intent_id: str
    account_id: str
    symbol: str
    side: Side
    quantity: int
    state: OrderState
    created_at: datetime
    updated_at: datetime
    broker_order_id: str | None = None
    broker_order_day: str | None = None
    filled_quantity: int = 0

    def __post_init__(self) -> None:
        check_quantity(self, "quantity", "filled_quantity")
        check_aware(self, "created_at", "updated_at")


@dataclass(frozen=True, slots=True)
class RecordedTransfer:
    """A transfer from our journal. `effective_at`: when it completed, else when it was asked."""

    id: str
    from_account_id: str
    to_account_id: str
    amount: Decimal
    state: TransferState
    requested_at: datetime
    completed_at: datetime | None = None

    def __post_init__(self) -> None:
        check_money(self, "amount")
        check_aware(self, "requested_at", "completed_at")

    @property
    def effective_at(self) -> datetime:
        return self.completed_at or self.requested_at


@dataclass(frozen=True, slots=True)
class Reading:
    """What one source returned for one configured account in one run, or why it could not.

    `snapshot` is None when the account could not even be resolved; a failed read of a resolved
    account may carry a Snapshot with `error` set. `positions_read` / `transactions_read` say
    which parts were asked for (an empty tuple is then a real "none").
    """

    user_id: str
    account_id: str
    source: str
    taken_at: datetime
    snapshot: Snapshot | None = None
    error: str | None = None
    positions_read: bool = True
    transactions_read: bool = False

    def __post_init__(self) -> None:
        check_aware(self, "taken_at")

    @property
    def failure(self) -> str | None:
        """Why the reading cannot be used, or None when it can."""
        if self.error is not None:
            return self.error
        if self.snapshot is None:
            return "no snapshot"
        return self.snapshot.error

    @property
    def ok(self) -> bool:
        return self.failure is None


@dataclass(frozen=True, slots=True)
class AccountBook:
    """Everything the comparison needs about one account.

    broker_orders: the broker's order list since `orders_since`, or None when not compared
    (no order source for the account). orders_error: the order list could not be read.
    """

    reading: Reading
    baseline: Snapshot | None = None
    fills: tuple[RecordedFill, ...] = ()
    orders: tuple[RecordedOrder, ...] = ()
    broker_orders: tuple[OrderReport, ...] | None = None
    orders_source: str = ""
    orders_error: str | None = None
    orders_since: datetime | None = None
    cash_field: CashField = CashField.DEPOSIT
    transfers_to: str | None = None

    @property
    def account_id(self) -> str:
        return self.reading.account_id

    @property
    def baseline_at(self) -> datetime | None:
        return None if self.baseline is None else self.baseline.taken_at


@dataclass(frozen=True, slots=True)
class Pending:
    """A possible break that could not be judged this run. None in kind/key means "any"."""

    account_id: str
    reason: str
    kind: BreakKind | None = None
    key: str | None = None

    def covers(self, kind: str, account_id: str, key: str) -> bool:
        return (
            self.account_id == account_id
            and (self.kind is None or self.kind == kind)
            and (self.key is None or self.key == key)
        )


@dataclass(frozen=True, slots=True)
class ExpectedBook:
    """The book we expected for one account, shown in the run report."""

    account_id: str
    baseline_at: datetime | None
    cash_field: CashField
    expected_cash: Decimal | None
    observed_cash: Decimal | None
    cash_tolerance: Decimal
    positions: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ComparisonOutcome:
    breaks: tuple[Break, ...]
    pending: tuple[Pending, ...]
    expected: tuple[ExpectedBook, ...] = ()

    @property
    def clean(self) -> bool:
        """Nothing broken and nothing left unjudged: the readings may become the baseline."""
        return not self.breaks and not self.pending


@dataclass(frozen=True, slots=True)
class _Leg:
    """Money that left one account and should arrive at another."""

    key: str
    from_account_id: str
    amount: Decimal
    at: datetime
    label: str
    certain: bool  # False: may or may not have happened (unconfirmed or unresolved transfer)


def break_key(*parts: str) -> str:
    """A break key that fits the store (long vendor ids are shortened with a digest)."""
    key = ":".join(parts)
    if len(key) <= MAX_KEY_LENGTH:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return f"{key[: MAX_KEY_LENGTH - 13]}~{digest}"


def order_window_start(
    now: datetime, baseline_at: datetime | None, lookback: timedelta
) -> datetime:
    """Start of the broker order list we compare: today's KST session, or the baseline if older,
    but never further back than `lookback`."""
    day_start = to_kst(now).replace(hour=0, minute=0, second=0, microsecond=0)
    start = day_start if baseline_at is None else min(day_start, baseline_at)
    return max(start, now - lookback)


class _Judge:
    """Collects breaks and pending items, and what is in flight per account."""

    def __init__(self, now: datetime, tol: Tolerances) -> None:
        self.now = now
        self.tol = tol
        self.breaks: dict[str, Break] = {}
        self.pending: list[Pending] = []
        self.cash_in_flight: dict[str, list[str]] = defaultdict(list)
        self.symbols_in_flight: dict[str, dict[str, str]] = defaultdict(dict)

    def recent(self, *moments: datetime | None) -> bool:
        return any(m is not None and self.now - m < self.tol.too_recent for m in moments)

    def add(self, brk: Break) -> None:
        self.breaks.setdefault(brk.identity, brk)

    def wait(self, pending: Pending) -> None:
        self.pending.append(pending)

    def in_flight(self, account_id: str, reason: str, symbol: str | None = None) -> None:
        self.cash_in_flight[account_id].append(reason)
        if symbol is not None:
            self.symbols_in_flight[account_id].setdefault(symbol, reason)


def reconcile(
    books: Sequence[AccountBook],
    transfers: Sequence[RecordedTransfer] = (),
    *,
    now: datetime,
    tolerances: Tolerances,
) -> ComparisonOutcome:
    """Compare expected and observed books of one user's accounts; return breaks and pending."""
    judge = _Judge(now, tolerances)
    usable: dict[str, AccountBook] = {}
    for book in books:
        if _check_source(judge, book):
            usable[book.account_id] = book
    for book in books:
        _check_orders(judge, book)
        _mark_activity(judge, book)
    for transfer in transfers:
        _mark_transfer(judge, transfer)

    legs = _transfer_legs(judge, books, usable, transfers)
    expected: list[ExpectedBook] = []
    for book in usable.values():
        _check_positions(judge, book)
        exp = _check_cash(judge, book, transfers, legs.get(book.account_id, []))
        if exp is not None:
            expected.append(exp)
    # Legs into an account that could not be read stay pending until it can.
    for dest, dest_legs in legs.items():
        if dest not in usable:
            for leg in dest_legs:
                judge.wait(Pending(leg.from_account_id, f"{dest} not read", _UNMATCHED, leg.key))

    breaks = tuple(sorted(judge.breaks.values(), key=lambda b: b.identity))
    pending = tuple(sorted(set(judge.pending), key=_pending_order))
    return ComparisonOutcome(breaks=breaks, pending=pending, expected=tuple(expected))


_UNMATCHED = BreakKind.UNMATCHED_TRANSFER


def _pending_order(p: Pending) -> tuple[str, str, str, str]:
    return (p.account_id, p.kind or "", p.key or "", p.reason)


def _check_source(judge: _Judge, book: AccountBook) -> bool:
    """A failed or stale reading is a stale_source break, and nothing else about it is judged."""
    reading = book.reading
    problem = reading.failure
    cash = reading.snapshot.cash if reading.snapshot is not None else None
    if problem is None and cash is not None:
        if cash.stale:
            problem = "the source answered from a cache on a fresh read"
        elif reading.taken_at - cash.as_of > judge.tol.stale_after:
            problem = f"cash figure dated {cash.as_of.isoformat()} is older than allowed"
    if problem is None:
        return True
    judge.add(
        Break(
            kind=BreakKind.STALE_SOURCE,
            account_id=book.account_id,
            key=break_key(reading.source),
            detail=f"{reading.source} could not be read for {book.account_id}: {problem}",
        )
    )
    judge.wait(Pending(book.account_id, f"{reading.source} not read"))
    return False


def _check_orders(judge: _Judge, book: AccountBook) -> None:
    """unknown_order and missing_fill, from the broker's order list against our journal."""
    account = book.account_id
    if book.orders_error is not None:
        judge.add(
            Break(
                kind=BreakKind.STALE_SOURCE,
                account_id=account,
                key=break_key(book.orders_source or "broker", "orders"),
                detail=f"order list of {account} could not be read: {book.orders_error}",
            )
        )
        for kind in (BreakKind.UNKNOWN_ORDER, BreakKind.MISSING_FILL):
            judge.wait(Pending(account, "order list not read", kind))
        for order in book.orders:
            if not order.state.terminal:
                judge.in_flight(account, "order list not read", order.symbol)
        return
    if book.broker_orders is None:
        # Without the broker's list an unresolved intent may have filled: not judgeable.
        for order in book.orders:
            if order.state.unresolved:
                judge.in_flight(account, f"intent {order.intent_id} unresolved", order.symbol)
        return

    # Brokers restart order numbers daily: (KST day, number) names an order; an intent recorded
    # without the day matches on the number alone.
    by_broker_id: dict[tuple[str | None, str], RecordedOrder] = {}
    for order in book.orders:
        if order.broker_order_id:
            by_broker_id[(order.broker_order_day, order.broker_order_id)] = order
    seen: set[str] = set()
    for report in book.broker_orders:
        day = to_kst(report.placed_at).strftime("%Y%m%d")
        ours = by_broker_id.get((day, report.order_id)) or by_broker_id.get((None, report.order_id))
        if ours is None:
            _judge_unknown(judge, book, report, day)
            continue
        seen.add(ours.intent_id)
        if ours.filled_quantity == report.filled_quantity:
            continue
        _missing_fill(
            judge,
            account,
            ours,
            recent=(ours.updated_at, report.placed_at),
            waiting=("fill in flight", f"fill of {ours.intent_id} in flight"),
            detail=(
                f"broker order {report.order_id} ({ours.symbol} {ours.side}) shows "
                f"{report.filled_quantity} filled; our journal records {ours.filled_quantity}"
            ),
            observed=Decimal(report.filled_quantity),
        )
    live_states = (OrderState.ACCEPTED, OrderState.PARTIALLY_FILLED, OrderState.FILLED)
    for order in book.orders:
        if order.intent_id in seen or order.state not in live_states:
            continue
        if not order.broker_order_id:
            continue  # no broker number recorded: nothing to look up
        if book.orders_since is not None and order.created_at < book.orders_since:
            continue  # placed before the list we read: not judged here
        _missing_fill(
            judge,
            account,
            order,
            recent=(order.created_at, order.updated_at),
            waiting=("order in flight", f"order {order.intent_id} in flight"),
            detail=(
                f"our journal says {order.state} ({order.filled_quantity}/{order.quantity} "
                f"{order.symbol}) as broker order {order.broker_order_id}; "
                "the broker has no such order"
            ),
            observed=ZERO,
        )


def _missing_fill(
    judge: _Judge,
    account: str,
    order: RecordedOrder,
    *,
    recent: tuple[datetime, datetime],
    waiting: tuple[str, str],
    detail: str,
    observed: Decimal,
) -> None:
    """A missing_fill break for `order`, or "too recent to judge" while it may be in flight."""
    key = break_key(order.intent_id)
    if judge.recent(*recent):
        judge.wait(Pending(account, waiting[0], BreakKind.MISSING_FILL, key))
        judge.in_flight(account, waiting[1], order.symbol)
        return
    judge.add(
        Break(
            kind=BreakKind.MISSING_FILL,
            account_id=account,
            key=key,
            detail=detail,
            expected=Decimal(order.filled_quantity),
            observed=observed,
        )
    )


def _judge_unknown(judge: _Judge, book: AccountBook, report: OrderReport, day: str) -> None:
    account = book.account_id
    if report.state in (OrderState.REJECTED, OrderState.NOT_FOUND) and not report.filled_quantity:
        return  # never lived: holds nothing
    key = break_key(day, report.order_id)
    candidates = [
        o
        for o in book.orders
        if o.state.unresolved
        and o.symbol == report.symbol
        and o.side is report.side
        and o.quantity == report.quantity
    ]
    if candidates or judge.recent(report.placed_at):
        reason = (
            f"may be unresolved intent {candidates[0].intent_id}" if candidates else "just placed"
        )
        judge.wait(Pending(account, reason, BreakKind.UNKNOWN_ORDER, key))
        judge.in_flight(account, reason, report.symbol)
        return
    judge.add(
        Break(
            kind=BreakKind.UNKNOWN_ORDER,
            account_id=account,
            key=key,
            detail=(
                f"broker holds order {report.order_id} ({report.side} {report.quantity} "
                f"{report.symbol}, {report.state}, {report.filled_quantity} filled, placed "
                f"{report.placed_at.isoformat()}) and we have no intent for it"
            ),
            observed=Decimal(report.quantity),
        )
    )


def _mark_activity(judge: _Judge, book: AccountBook) -> None:
    """Recent fills and order activity put the account's cash and that symbol in flight."""
    account = book.account_id
    for fill in book.fills:
        if judge.recent(fill.filled_at):
            judge.in_flight(account, f"fill of {fill.intent_id} just recorded", fill.symbol)
    for order in book.orders:
        if not order.state.terminal and judge.recent(order.created_at, order.updated_at):
            judge.in_flight(account, f"order {order.intent_id} just changed", order.symbol)


def _mark_transfer(judge: _Judge, transfer: RecordedTransfer) -> None:
    if transfer.state.unresolved:
        judge.in_flight(transfer.from_account_id, f"transfer {transfer.id} unresolved")


def _since(moment: datetime, baseline_at: datetime | None) -> bool:
    return baseline_at is not None and moment > baseline_at


def _transfer_legs(
    judge: _Judge,
    books: Sequence[AccountBook],
    usable: Mapping[str, AccountBook],
    transfers: Sequence[RecordedTransfer],
) -> dict[str, list[_Leg]]:
    """Legs per destination account: OUT lines of feed accounts, and our own recorded transfers.

    Only legs later than the destination's baseline count (an account without a baseline has
    nothing to match against yet); a destination that could not be read keeps its legs pending.
    """
    tol = judge.tol
    baselines = {b.account_id: b.baseline_at for b in books}
    legs: dict[str, list[_Leg]] = defaultdict(list)
    explained: set[str] = set()  # transfer ids represented by an OUT line
    for book in usable.values():
        dest = book.transfers_to
        if dest is None or not book.reading.transactions_read or book.baseline is None:
            continue
        snapshot = book.reading.snapshot
        assert snapshot is not None  # usable readings carry one
        ours = [
            t
            for t in transfers
            if t.from_account_id == book.account_id
            and t.to_account_id == dest
            and t.state is not TransferState.FAILED
        ]
        outs = sorted(
            (
                tx
                for tx in snapshot.transactions
                if tx.direction is Direction.OUT
                and tx.amount >= tol.transfer_min
                and _since(tx.occurred_at, book.baseline_at)
                and _since(tx.occurred_at, baselines.get(dest))
            ),
            key=lambda tx: tx.occurred_at,
        )
        for tx in outs:
            match = next(
                (
                    t
                    for t in ours
                    if t.id not in explained
                    and t.amount == tx.amount
                    and abs(t.effective_at - tx.occurred_at) <= tol.transfer_window
                ),
                None,
            )
            label = f"OUT {tx.amount} on {tx.occurred_at.isoformat()} ({tx.tx_id})"
            if match is not None:
                explained.add(match.id)
                label += f", our transfer {match.id}"
            legs[dest].append(
                _Leg(
                    break_key("tx", tx.tx_id),
                    book.account_id,
                    tx.amount,
                    tx.occurred_at,
                    label,
                    True,
                )
            )
        for t in ours:
            if t.id in explained or t.state is not TransferState.SUCCEEDED:
                continue
            if not _since(t.effective_at, book.baseline_at):
                continue
            key = break_key("transfer", t.id)
            if judge.now - t.effective_at < tol.transfer_window:
                judge.wait(
                    Pending(book.account_id, "transfer not yet seen leaving", _UNMATCHED, key)
                )
            else:
                judge.add(
                    Break(
                        kind=_UNMATCHED,
                        account_id=book.account_id,
                        key=key,
                        detail=(
                            f"our transfer {t.id} of {t.amount} to {dest} succeeded at "
                            f"{t.effective_at.isoformat()} but {book.account_id}'s history "
                            "shows no such withdrawal"
                        ),
                        expected=t.amount,
                    )
                )
            explained.add(t.id)
            if _since(t.effective_at, baselines.get(dest)):
                # It may still have arrived: let the destination's cash say so.
                leg = _Leg(key, book.account_id, t.amount, t.effective_at, t.id, False)
                legs[dest].append(leg)
    # Our transfers whose source has no history feed: the record is the only leg.
    for t in transfers:
        if t.id in explained or t.state is TransferState.FAILED:
            continue
        if not _since(t.effective_at, baselines.get(t.to_account_id)):
            continue
        legs[t.to_account_id].append(
            _Leg(
                break_key("transfer", t.id),
                t.from_account_id,
                t.amount,
                t.effective_at,
                f"our transfer {t.id}",
                t.state is TransferState.SUCCEEDED,
            )
        )
    return legs


def _check_positions(judge: _Judge, book: AccountBook) -> None:
    if book.baseline is None or not book.reading.positions_read:
        return
    snapshot = book.reading.snapshot
    assert snapshot is not None
    expected = _quantities(book.baseline.positions)
    for fill in book.fills:
        if _since(fill.filled_at, book.baseline_at):
            expected[fill.symbol] = expected.get(fill.symbol, 0) + fill.signed_quantity
    observed = _quantities(snapshot.positions)
    in_flight = judge.symbols_in_flight.get(book.account_id, {})
    for symbol in sorted(expected.keys() | observed.keys()):
        exp, obs = expected.get(symbol, 0), observed.get(symbol, 0)
        if exp == obs:
            continue
        if symbol in in_flight:
            judge.wait(
                Pending(book.account_id, in_flight[symbol], BreakKind.POSITION_MISMATCH, symbol)
            )
            continue
        judge.add(
            Break(
                kind=BreakKind.POSITION_MISMATCH,
                account_id=book.account_id,
                key=break_key(symbol),
                detail=f"{symbol}: expected {exp} shares, {book.reading.source} shows {obs}",
                expected=Decimal(exp),
                observed=Decimal(obs),
            )
        )


def _quantities(positions: Iterable[Position]) -> dict[str, int]:
    # KIS lists a holding once per loan date: sum rows of the same symbol.
    totals: dict[str, int] = {}
    for p in positions:
        totals[p.symbol] = totals.get(p.symbol, 0) + p.quantity
    return totals


def _check_cash(
    judge: _Judge,
    book: AccountBook,
    transfers: Sequence[RecordedTransfer],
    legs: Sequence[_Leg],
) -> ExpectedBook | None:
    """cash_mismatch for one account, and unmatched_transfer for legs arriving at it."""
    tol = judge.tol
    account = book.account_id
    snapshot = book.reading.snapshot
    assert snapshot is not None  # usable readings carry one
    if book.baseline is None:
        return None  # nothing to compare yet: this run may become the first baseline
    key = break_key(book.cash_field.value)
    observed = book.cash_field.of(snapshot.cash)
    base = book.cash_field.of(book.baseline.cash)
    if base is None or observed is None:
        _leave_open(judge, book, key, legs, f"{book.cash_field.value} not reported")
        return None
    baseline_at = book.baseline_at
    in_flight = list(judge.cash_in_flight.get(account, []))

    expected = base
    traded = ZERO
    feed = book.reading.transactions_read
    if feed:
        # The institution's own history explains every movement since the baseline.
        for tx in snapshot.transactions:
            if _since(tx.occurred_at, baseline_at):
                expected += tx.amount if tx.direction is Direction.IN else -tx.amount
    else:
        for fill in book.fills:
            if not _since(fill.filled_at, baseline_at):
                continue
            effect = fill.cash_effect
            if effect is None:
                in_flight.append(f"fill of {fill.intent_id} has no price")
                continue
            expected += effect
            traded += abs(effect)
        for t in transfers:
            if (
                t.from_account_id == account
                and t.state is TransferState.SUCCEEDED
                and _since(t.effective_at, baseline_at)
            ):
                expected -= t.amount
    tolerance = tol.cash + tol.fee_rate * traded

    if feed:
        _match_lines(judge, book, legs)
        legs = ()
    if in_flight:
        _leave_open(judge, book, key, legs, in_flight[0])
        return _expected_book(book, expected, observed, tolerance)

    certain = [leg for leg in legs if leg.certain and judge.now - leg.at >= tol.transfer_window]
    maybe = [leg for leg in legs if leg not in certain]
    found = _explain(observed - expected, certain, maybe, tolerance)
    missing, arrived = found if found is not None else ((), ())
    for leg in maybe:
        if leg not in arrived:
            judge.wait(Pending(leg.from_account_id, "in transfer window", _UNMATCHED, leg.key))
    if found is None:
        # Nothing explains the difference: judge against "every due transfer arrived".
        expected += sum((leg.amount for leg in certain), ZERO)
        judge.add(_cash_break(book, key, expected, observed, tolerance))
        return _expected_book(book, expected, observed, tolerance)
    expected += sum((leg.amount for leg in certain if leg not in missing), ZERO)
    expected += sum((leg.amount for leg in arrived), ZERO)
    for leg in missing:
        judge.add(_unmatched_leg(leg, account))
    return _expected_book(book, expected, observed, tolerance)


def _leave_open(
    judge: _Judge, book: AccountBook, key: str, legs: Sequence[_Leg], reason: str
) -> None:
    judge.wait(Pending(book.account_id, reason, BreakKind.CASH_MISMATCH, key))
    for leg in legs:
        judge.wait(
            Pending(leg.from_account_id, f"{book.account_id}: {reason}", _UNMATCHED, leg.key)
        )


def _expected_book(
    book: AccountBook, expected: Decimal, observed: Decimal, tolerance: Decimal
) -> ExpectedBook:
    return ExpectedBook(
        account_id=book.account_id,
        baseline_at=book.baseline_at,
        cash_field=book.cash_field,
        expected_cash=expected,
        observed_cash=observed,
        cash_tolerance=tolerance,
    )


def _won(amount: Decimal) -> str:
    return f"{'-' if amount < 0 else ''}₩{krw(abs(amount))}"


def _cash_break(
    book: AccountBook, key: str, expected: Decimal, observed: Decimal, tolerance: Decimal
) -> Break:
    return Break(
        kind=BreakKind.CASH_MISMATCH,
        account_id=book.account_id,
        key=key,
        detail=(
            # Whole won with separators: this text reaches the CLI, the API and alerts as is.
            f"{book.cash_field.value}: expected ₩{krw(expected)}, {book.reading.source} shows "
            f"₩{krw(observed)} (difference {_won(observed - expected)}, "
            f"tolerance ₩{krw(tolerance)})"
        ),
        expected=expected,
        observed=observed,
    )


def _unmatched_leg(leg: _Leg, dest: str) -> Break:
    return Break(
        kind=_UNMATCHED,
        account_id=leg.from_account_id,
        key=leg.key,
        detail=f"{leg.label} from {leg.from_account_id} has not arrived at {dest}",
        expected=leg.amount,
    )


def _explain(
    residual: Decimal, certain: Sequence[_Leg], maybe: Sequence[_Leg], tolerance: Decimal
) -> tuple[tuple[_Leg, ...], tuple[_Leg, ...]] | None:
    """(certain legs that did not arrive, uncertain legs that did) explaining `residual`.

    Fewest missing certain legs first; None when no combination explains the residual.
    """
    if len(certain) + len(maybe) > MAX_MATCHED_LEGS:
        total = sum((leg.amount for leg in certain), ZERO)
        return ((), ()) if abs(residual - total) <= tolerance else None
    total = sum((leg.amount for leg in certain), ZERO)
    for k in range(len(certain) + 1):
        for missing in combinations(certain, k):
            base = total - sum((leg.amount for leg in missing), ZERO)
            for r in range(len(maybe) + 1):
                for arrived in combinations(maybe, r):
                    if (
                        abs(residual - base - sum((leg.amount for leg in arrived), ZERO))
                        <= tolerance
                    ):
                        return missing, arrived
    return None


def _match_lines(judge: _Judge, book: AccountBook, legs: Sequence[_Leg]) -> None:
    """Legs into an account with a history feed: each needs an IN line of the same amount."""
    snapshot = book.reading.snapshot
    assert snapshot is not None
    window = judge.tol.transfer_window
    ins = sorted(
        (
            tx
            for tx in snapshot.transactions
            if tx.direction is Direction.IN and _since(tx.occurred_at, book.baseline_at)
        ),
        key=lambda tx: tx.occurred_at,
    )
    used: set[str] = set()
    for leg in sorted(legs, key=lambda leg: leg.at):
        hit = next(
            (
                tx
                for tx in ins
                if tx.tx_id not in used
                and tx.amount == leg.amount
                and leg.at - judge.tol.too_recent <= tx.occurred_at <= leg.at + window
            ),
            None,
        )
        if hit is not None:
            used.add(hit.tx_id)
        elif not leg.certain or judge.now - leg.at < window:
            judge.wait(Pending(leg.from_account_id, "in transfer window", _UNMATCHED, leg.key))
        else:
            judge.add(_unmatched_leg(leg, book.account_id))
