"""Properties of the pure comparison, over generated books (hypothesis)."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.domain.model import BreakKind, Direction, OrderState, Side
from orchestrator.domain.reconciliation import RecordedOrder, Tolerances, reconcile
from orchestrator.domain.timeutil import to_kst
from tests.reconciliation.support import (
    BASE_AT,
    KIS,
    NOW,
    SAMSUNG,
    book,
    broker_order,
    fill,
    snapshot,
    tx,
)

SYMBOLS = ["005930", "000660", "035720", "051910"]
TOL = Tolerances(too_recent=timedelta(minutes=2), transfer_window=timedelta(hours=1))
# Everything generated happened after the baseline and well before the too-recent window.
moments = st.integers(min_value=1, max_value=170).map(lambda m: BASE_AT + timedelta(minutes=m))
fills_st = st.lists(
    st.tuples(
        st.sampled_from(SYMBOLS),
        st.sampled_from([Side.BUY, Side.SELL]),
        st.integers(1, 500),
        st.integers(1, 2_000_000),
        moments,
    ),
    max_size=8,
)
holdings_st = st.dictionaries(st.sampled_from(SYMBOLS), st.integers(0, 10_000), max_size=4)
transfers_st = st.lists(
    st.tuples(st.integers(1, 50_000_000), st.integers(1, 110)), max_size=4
)  # (amount, minutes after baseline): arrives at KIS, then the window has passed


@settings(max_examples=150, deadline=None)
@given(
    kis_cash=st.integers(0, 10**11),
    samsung_cash=st.integers(0, 10**11),
    holdings=holdings_st,
    raw_fills=fills_st,
    transfers=transfers_st,
)
def test_identical_expected_and_observed_have_no_breaks(
    kis_cash: int,
    samsung_cash: int,
    holdings: dict[str, int],
    raw_fills: list[tuple[str, Side, int, int, object]],
    transfers: list[tuple[int, int]],
) -> None:
    """Whatever happened, if the institutions show exactly our expected book, nothing breaks."""
    fills = tuple(
        fill(KIS, s, side, q, p, at=at, intent=f"i-{n}")  # type: ignore[arg-type]
        for n, (s, side, q, p, at) in enumerate(raw_fills)
    )
    expected_cash = Decimal(kis_cash) + sum((f.cash_effect or 0 for f in fills), Decimal(0))
    shares: dict[str, int] = defaultdict(int, holdings)
    for f in fills:
        shares[f.symbol] += f.signed_quantity
    outs = [
        tx(SAMSUNG, f"T{n}", amount, at=BASE_AT + timedelta(minutes=m))
        for n, (amount, m) in enumerate(transfers)
    ]
    moved = sum((Decimal(a) for a, _ in transfers), Decimal(0))
    intents = tuple(
        RecordedOrder(
            intent_id=f.intent_id,
            account_id=KIS.account_id,
            symbol=f.symbol,
            side=f.side,
            quantity=f.quantity,
            state=OrderState.FILLED,
            created_at=f.filled_at,
            updated_at=f.filled_at,
            broker_order_id=f"{n:07d}",
            broker_order_day=to_kst(f.filled_at).strftime("%Y%m%d"),
            filled_quantity=f.quantity,
        )
        for n, f in enumerate(fills)
    )
    reports = tuple(
        broker_order(
            f"{n:07d}",
            symbol=f.symbol,
            side=f.side,
            quantity=f.quantity,
            filled=f.quantity,
            state=OrderState.FILLED,
            at=f.filled_at,
        )
        for n, f in enumerate(fills)
    )
    books = [
        book(
            snapshot(SAMSUNG, Decimal(samsung_cash) - moved, transactions=outs),
            snapshot(SAMSUNG, samsung_cash, at=BASE_AT),
            transactions=True,
            transfers_to="kis-main",
        ),
        book(
            snapshot(KIS, expected_cash + moved, positions=dict(shares)),
            snapshot(KIS, kis_cash, at=BASE_AT, positions=holdings),
            fills=fills,
            orders=intents,
            broker_orders=reports,
            orders_since=BASE_AT,
        ),
    ]

    outcome = reconcile(books, now=NOW, tolerances=TOL)

    assert outcome.breaks == ()
    assert outcome.clean


@settings(max_examples=150, deadline=None)
@given(
    cash=st.integers(0, 10**11),
    diff=st.integers(-(10**9), 10**9),
    tolerance=st.integers(0, 10**6),
)
def test_cash_breaks_exactly_when_difference_exceeds_tolerance(
    cash: int, diff: int, tolerance: int
) -> None:
    """|observed - expected| > tolerance gives one cash_mismatch; otherwise none."""
    tol = Tolerances(cash=Decimal(tolerance))
    books = [book(snapshot(KIS, cash + diff), snapshot(KIS, cash, at=BASE_AT))]

    outcome = reconcile(books, now=NOW, tolerances=tol)

    kinds = [b.kind for b in outcome.breaks]
    assert kinds == ([BreakKind.CASH_MISMATCH] if abs(diff) > tolerance else [])


@settings(max_examples=100, deadline=None)
@given(
    amounts=st.lists(st.integers(1, 10**8), min_size=1, max_size=5),
    lost=st.data(),
)
def test_the_transfer_that_did_not_arrive_is_the_one_reported(
    amounts: list[int], lost: st.DataObject
) -> None:
    """With distinct amounts, a missing arrival is blamed on exactly the missing transfer."""
    amounts = sorted(set(amounts))
    missing = lost.draw(st.sampled_from(range(len(amounts))))
    outs = [
        tx(SAMSUNG, f"T{n}", a, at=BASE_AT + timedelta(minutes=n + 1), direction=Direction.OUT)
        for n, a in enumerate(amounts)
    ]
    arrived = sum(a for n, a in enumerate(amounts) if n != missing)
    books = [
        book(
            snapshot(SAMSUNG, 10**9 - sum(amounts), transactions=outs),
            snapshot(SAMSUNG, 10**9, at=BASE_AT),
            transactions=True,
            transfers_to="kis-main",
        ),
        book(snapshot(KIS, arrived), snapshot(KIS, 0, at=BASE_AT)),
    ]

    outcome = reconcile(books, now=NOW, tolerances=TOL)

    assert [(b.kind, b.key) for b in outcome.breaks] == [
        (BreakKind.UNMATCHED_TRANSFER, f"tx:T{missing}")
    ]
