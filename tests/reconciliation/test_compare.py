"""Pure reconciliation: each break kind appears and disappears; tolerances; too-recent window;
transfer matching; portfolio valuation. No I/O."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from orchestrator.domain.model import (
    BreakKind,
    CashBalance,
    Direction,
    OrderState,
    Side,
    TransferState,
)
from orchestrator.domain.portfolio import consolidate
from orchestrator.domain.reconciliation import (
    AccountBook,
    CashField,
    Reading,
    RecordedOrder,
    RecordedTransfer,
    Tolerances,
    break_key,
    order_window_start,
    reconcile,
)
from orchestrator.domain.timeutil import to_kst
from tests.reconciliation.support import (
    BASE_AT,
    KIS,
    LONG_AGO,
    NOW,
    SAMSUNG,
    book,
    broker_order,
    fill,
    position,
    reading,
    snapshot,
    tx,
)

TOL = Tolerances(
    cash=Decimal(0),
    too_recent=timedelta(minutes=2),
    transfer_window=timedelta(hours=1),
)


def kinds(books: list[AccountBook], transfers: list[RecordedTransfer] | None = None):
    outcome = reconcile(books, transfers or [], now=NOW, tolerances=TOL)
    return outcome, [(b.kind, b.account_id, b.key) for b in outcome.breaks]


def intent(
    intent_id: str,
    *,
    broker_id: str | None,
    state: OrderState = OrderState.ACCEPTED,
    filled: int = 0,
    at=LONG_AGO,
    quantity: int = 10,
) -> RecordedOrder:
    return RecordedOrder(
        intent_id=intent_id,
        account_id=KIS.account_id,
        symbol="005930",
        side=Side.BUY,
        quantity=quantity,
        state=state,
        created_at=at,
        updated_at=at,
        broker_order_id=broker_id,
        broker_order_day=None if broker_id is None else to_kst(at).strftime("%Y%m%d"),
        filled_quantity=filled,
    )


# --- cash and positions ------------------------------------------------------------------------


def test_baseline_plus_fills_equal_to_observed_is_clean() -> None:
    """Expected = baseline + our fills: a buy moves cash and shares exactly as recorded."""
    base = snapshot(KIS, 1_000_000, at=BASE_AT, positions={"005930": 5})
    observed = snapshot(KIS, 300_000, positions={"005930": 15})
    fills = (fill(KIS, "005930", Side.BUY, 10, 70_000, at=LONG_AGO),)

    outcome, found = kinds([book(observed, base, fills=fills)])

    assert found == []
    assert outcome.clean
    assert outcome.expected[0].expected_cash == Decimal(300_000)


def test_cash_mismatch_appears_then_disappears() -> None:
    """A deposit that moved behind our back is a cash_mismatch; agreeing again clears it."""
    base = snapshot(KIS, 1_000_000, at=BASE_AT)

    _, broken = kinds([book(snapshot(KIS, 990_000), base)])
    _, fixed = kinds([book(snapshot(KIS, 1_000_000), base)])

    assert broken == [(BreakKind.CASH_MISMATCH, "kis-main", "deposit")]
    assert fixed == []


def test_cash_tolerance_absolute_and_per_traded_value() -> None:
    """Differences inside the KRW tolerance, or the fee allowance on traded value, are no break."""
    base = snapshot(KIS, 1_000_000, at=BASE_AT, positions={"005930": 0})
    fills = (fill(KIS, "005930", Side.BUY, 10, 70_000, at=LONG_AGO),)
    # 700,000 traded: commission of 105 KRW is inside 0.0003 * 700,000 = 210.
    observed = snapshot(KIS, 299_895, positions={"005930": 10})
    loose = Tolerances(cash=Decimal(0), fee_rate=Decimal("0.0003"))
    strict = Tolerances(cash=Decimal(0))
    absolute = Tolerances(cash=Decimal(200))

    assert reconcile([book(observed, base, fills=fills)], now=NOW, tolerances=loose).clean
    assert reconcile([book(observed, base, fills=fills)], now=NOW, tolerances=absolute).clean
    strict_outcome = reconcile([book(observed, base, fills=fills)], now=NOW, tolerances=strict)
    assert [b.kind for b in strict_outcome.breaks] == [BreakKind.CASH_MISMATCH]


def test_cash_field_is_configurable() -> None:
    """An account reconciled on `orderable` compares that figure, not the deposit."""
    base = snapshot(KIS, 1_000_000, at=BASE_AT, orderable=900_000)
    observed = snapshot(KIS, 1_000_000, orderable=800_000)

    _, found = kinds([book(observed, base, cash_field=CashField.ORDERABLE)])

    assert found == [(BreakKind.CASH_MISMATCH, "kis-main", "orderable")]


def test_position_mismatch_appears_then_disappears() -> None:
    """Shares the broker shows and our book does not are a position_mismatch."""
    base = snapshot(KIS, 0, at=BASE_AT, positions={"005930": 10})

    _, broken = kinds([book(snapshot(KIS, 0, positions={"005930": 7}), base)])
    _, fixed = kinds([book(snapshot(KIS, 0, positions={"005930": 10}), base)])

    assert broken == [(BreakKind.POSITION_MISMATCH, "kis-main", "005930")]
    assert fixed == []


def test_position_rows_of_one_symbol_are_summed_and_zero_rows_ignored() -> None:
    """KIS lists a holding per loan date and keeps sold-out rows at 0 until D+2."""
    base = snapshot(KIS, 0, at=BASE_AT, positions={"005930": 10})
    observed = snapshot(KIS, 0)
    observed = type(observed)(
        account=KIS,
        source="kis",
        taken_at=NOW,
        cash=observed.cash,
        positions=(
            position(KIS, "005930", 4),
            position(KIS, "005930", 6),
            position(KIS, "000660", 0),
        ),
    )

    _, found = kinds([book(observed, base)])

    assert found == []


def test_too_recent_fill_is_pending_not_a_break() -> None:
    """A fill seconds ago may not show at the broker yet: cash and that symbol are not judged."""
    base = snapshot(KIS, 1_000_000, at=BASE_AT, positions={"005930": 0})
    just_now = (fill(KIS, "005930", Side.BUY, 10, 70_000, at=NOW - timedelta(seconds=30)),)
    observed = snapshot(KIS, 1_000_000, positions={"005930": 0})  # broker not caught up

    outcome, found = kinds([book(observed, base, fills=just_now)])

    assert found == []
    assert not outcome.clean
    assert {p.kind for p in outcome.pending} == {
        BreakKind.CASH_MISMATCH,
        BreakKind.POSITION_MISMATCH,
    }


def test_same_fill_outside_the_window_is_judged() -> None:
    """Once the too-recent window has passed, the same disagreement is a break."""
    base = snapshot(KIS, 1_000_000, at=BASE_AT, positions={"005930": 0})
    older = (fill(KIS, "005930", Side.BUY, 10, 70_000, at=NOW - timedelta(minutes=5)),)
    observed = snapshot(KIS, 1_000_000, positions={"005930": 0})

    _, found = kinds([book(observed, base, fills=older)])

    assert {k for k, _, _ in found} == {BreakKind.CASH_MISMATCH, BreakKind.POSITION_MISMATCH}


def test_first_run_without_baseline_is_clean() -> None:
    """With no accepted snapshot there is nothing to compare: the run may become the baseline."""
    outcome, found = kinds([book(snapshot(KIS, 123, positions={"005930": 3}))])

    assert found == []
    assert outcome.clean


# --- orders ------------------------------------------------------------------------------------


def test_unknown_order_appears_then_disappears() -> None:
    """A broker order with no intent of ours is an unknown_order; gone from the list, it clears."""
    base = snapshot(KIS, 0, at=BASE_AT)
    rogue = broker_order("0000117", filled=0)

    _, broken = kinds([book(snapshot(KIS, 0), base, broker_orders=(rogue,), orders=())])
    _, fixed = kinds([book(snapshot(KIS, 0), base, broker_orders=(), orders=())])

    day = to_kst(LONG_AGO).strftime("%Y%m%d")
    assert broken == [(BreakKind.UNKNOWN_ORDER, "kis-main", f"{day}:0000117")]
    assert fixed == []


def test_unknown_order_spared_when_rejected_recent_or_maybe_ours() -> None:
    """Never-lived rejects are ignored; a just-placed order or a maybe-ours one waits."""
    base = snapshot(KIS, 0, at=BASE_AT)
    rejected = broker_order("1", state=OrderState.REJECTED)
    fresh = broker_order("2", at=NOW - timedelta(seconds=10))
    maybe_ours = broker_order("3")
    unresolved = intent("i-9", broker_id=None, state=OrderState.UNKNOWN)

    outcome, found = kinds(
        [
            book(
                snapshot(KIS, 0),
                base,
                broker_orders=(rejected, fresh, maybe_ours),
                orders=(unresolved,),
            )
        ]
    )

    assert found == []
    assert {p.key for p in outcome.pending if p.kind is BreakKind.UNKNOWN_ORDER} == {
        break_key(to_kst(NOW).strftime("%Y%m%d"), "2"),
        break_key(to_kst(LONG_AGO).strftime("%Y%m%d"), "3"),
    }


def test_missing_fill_when_broker_shows_fills_we_did_not_record() -> None:
    """Broker filled 10, journal says 0: missing_fill keyed by our intent; equal again clears it."""
    base = snapshot(KIS, 0, at=BASE_AT)
    ours = intent("i-1", broker_id="0000001")

    _, broken = kinds(
        [
            book(
                snapshot(KIS, 0),
                base,
                broker_orders=(broker_order("0000001", filled=10),),
                orders=(ours,),
            )
        ]
    )
    _, fixed = kinds(
        [
            book(
                snapshot(KIS, 0),
                base,
                broker_orders=(broker_order("0000001", filled=0),),
                orders=(ours,),
            )
        ]
    )

    assert (BreakKind.MISSING_FILL, "kis-main", "i-1") in broken
    assert fixed == []


def test_missing_fill_when_journal_says_filled_and_broker_has_no_order() -> None:
    """Our intent says FILLED as broker order X; the broker has no X: missing_fill."""
    base = snapshot(KIS, 0, at=BASE_AT)
    ours = intent("i-2", broker_id="0000002", state=OrderState.FILLED, filled=10)

    outcome = reconcile(
        [
            book(
                snapshot(KIS, 0),
                base,
                broker_orders=(),
                orders=(ours,),
                orders_since=NOW - timedelta(hours=10),
            )
        ],
        now=NOW,
        tolerances=TOL,
    )

    assert [(b.kind, b.key) for b in outcome.breaks] == [(BreakKind.MISSING_FILL, "i-2")]


def test_missing_fill_suppressed_inside_too_recent_window() -> None:
    """A fill the broker shows for an order placed seconds ago is still being recorded."""
    base = snapshot(KIS, 0, at=BASE_AT)
    recent = NOW - timedelta(seconds=20)
    ours = intent("i-3", broker_id="0000003", at=recent)

    outcome, found = kinds(
        [
            book(
                snapshot(KIS, 0),
                base,
                broker_orders=(broker_order("0000003", filled=10, at=recent),),
                orders=(ours,),
            )
        ]
    )

    assert found == []
    assert any(p.kind is BreakKind.MISSING_FILL for p in outcome.pending)


def test_order_list_failure_is_stale_source() -> None:
    """An order list that cannot be read leaves a stale_source break and judges no orders."""
    base = snapshot(KIS, 0, at=BASE_AT)

    outcome, found = kinds(
        [book(snapshot(KIS, 0), base, orders_error="[kis] 503", orders_source="kis")]
    )

    assert found == [(BreakKind.STALE_SOURCE, "kis-main", "kis:orders")]
    assert any(p.kind is BreakKind.UNKNOWN_ORDER for p in outcome.pending)


# --- sources -----------------------------------------------------------------------------------


def test_failed_reading_is_stale_source_and_nothing_else() -> None:
    """A source that failed leaves stale_source, and every other break of the account unjudged."""
    failed = Reading(
        user_id="demo", account_id="kis-main", source="kis", taken_at=NOW, error="[kis] 503"
    )

    outcome = reconcile([AccountBook(reading=failed)], now=NOW, tolerances=TOL)

    assert [(b.kind, b.key) for b in outcome.breaks] == [(BreakKind.STALE_SOURCE, "kis")]
    assert outcome.pending[0].covers("cash_mismatch", "kis-main", "deposit")
    assert not outcome.pending[0].covers("cash_mismatch", "samsung-cma", "deposit")


def test_cached_or_old_cash_on_a_fresh_read_is_stale_source() -> None:
    """A fresh read must not come back stale, nor dated before the stale_after limit."""
    base = snapshot(KIS, 100, at=BASE_AT)
    cached = snapshot(KIS, 100)
    cached = type(cached)(
        account=KIS,
        source="kis",
        taken_at=NOW,
        cash=CashBalance(account=KIS, deposit=Decimal(100), as_of=NOW, stale=True),
    )
    old = type(cached)(
        account=KIS,
        source="kis",
        taken_at=NOW,
        cash=CashBalance(account=KIS, deposit=Decimal(100), as_of=NOW - timedelta(hours=1)),
    )

    _, from_cache = kinds([book(cached, base)])
    _, too_old = kinds([book(old, base)])

    assert from_cache == [(BreakKind.STALE_SOURCE, "kis-main", "kis")]
    assert too_old == [(BreakKind.STALE_SOURCE, "kis-main", "kis")]


# --- transfers ---------------------------------------------------------------------------------


def transfer_books(
    *, out_at, kis_deposit: int, samsung_after: int = 500_000, kis_feed: list | None = None
) -> list[AccountBook]:
    samsung_base = snapshot(SAMSUNG, 1_000_000, at=BASE_AT)
    kis_base = snapshot(KIS, 0, at=BASE_AT)
    samsung_now = snapshot(
        SAMSUNG, samsung_after, transactions=[tx(SAMSUNG, "T1", 500_000, at=out_at)]
    )
    kis_now = snapshot(KIS, kis_deposit, transactions=kis_feed or [])
    return [
        book(samsung_now, samsung_base, transactions=True, transfers_to="kis-main"),
        book(kis_now, kis_base, transactions=kis_feed is not None),
    ]


def test_transfer_out_matched_by_the_deposit_arriving_at_kis() -> None:
    """Samsung OUT 500,000 and KIS deposit up by 500,000: matched, no break."""
    outcome, found = kinds(transfer_books(out_at=LONG_AGO, kis_deposit=500_000))

    assert found == []
    assert outcome.clean


def test_transfer_not_arrived_inside_window_is_pending() -> None:
    """Within the match window a transfer that has not arrived is in flight, not a break."""
    outcome, found = kinds(transfer_books(out_at=NOW - timedelta(minutes=10), kis_deposit=0))

    assert found == []
    assert [(p.kind, p.key) for p in outcome.pending] == [(BreakKind.UNMATCHED_TRANSFER, "tx:T1")]


def test_transfer_not_arrived_after_window_is_unmatched() -> None:
    """After the window, a Samsung OUT with no matching KIS deposit is unmatched_transfer."""
    _, found = kinds(transfer_books(out_at=LONG_AGO, kis_deposit=0))

    assert found == [(BreakKind.UNMATCHED_TRANSFER, "samsung-cma", "tx:T1")]


def test_transfer_of_a_different_amount_does_not_match() -> None:
    """Same amount is required: 400,000 arriving for 500,000 leaves a cash break at KIS."""
    _, found = kinds(transfer_books(out_at=LONG_AGO, kis_deposit=400_000))

    assert found == [(BreakKind.CASH_MISMATCH, "kis-main", "deposit")]


def test_transfer_matched_against_destination_history_within_window() -> None:
    """A destination with its own history needs an IN line of the same amount inside the window."""
    arrived = [tx(KIS, "K1", 500_000, at=LONG_AGO + timedelta(minutes=5), direction=Direction.IN)]
    late = [tx(KIS, "K1", 500_000, at=LONG_AGO + timedelta(minutes=90), direction=Direction.IN)]

    _, matched = kinds(transfer_books(out_at=LONG_AGO, kis_deposit=500_000, kis_feed=arrived))
    _, unmatched = kinds(transfer_books(out_at=LONG_AGO, kis_deposit=500_000, kis_feed=late))

    assert matched == []
    assert unmatched == [(BreakKind.UNMATCHED_TRANSFER, "samsung-cma", "tx:T1")]


def test_our_recorded_transfer_without_a_history_line_is_unmatched() -> None:
    """Our transfer says succeeded, yet Samsung's history shows no such withdrawal."""
    samsung_base = snapshot(SAMSUNG, 1_000_000, at=BASE_AT)
    books = [
        book(
            snapshot(SAMSUNG, 1_000_000, transactions=[]),
            samsung_base,
            transactions=True,
            transfers_to="kis-main",
        ),
        book(snapshot(KIS, 0), snapshot(KIS, 0, at=BASE_AT)),
    ]
    ours = RecordedTransfer(
        id="tr-1",
        from_account_id="samsung-cma",
        to_account_id="kis-main",
        amount=Decimal(500_000),
        state=TransferState.SUCCEEDED,
        requested_at=LONG_AGO,
        completed_at=LONG_AGO,
    )

    _, found = kinds(books, [ours])

    assert found == [(BreakKind.UNMATCHED_TRANSFER, "samsung-cma", "transfer:tr-1")]


def test_our_transfer_between_accounts_without_history_moves_both_books() -> None:
    """Without history feeds, our recorded transfer debits the source and must arrive at KIS."""
    ours = RecordedTransfer(
        id="tr-2",
        from_account_id="samsung-cma",
        to_account_id="kis-main",
        amount=Decimal(300_000),
        state=TransferState.SUCCEEDED,
        requested_at=LONG_AGO,
        completed_at=LONG_AGO,
    )
    samsung_base = snapshot(SAMSUNG, 1_000_000, at=BASE_AT)
    kis_base = snapshot(KIS, 0, at=BASE_AT)

    _, arrived = kinds(
        [book(snapshot(SAMSUNG, 700_000), samsung_base), book(snapshot(KIS, 300_000), kis_base)],
        [ours],
    )
    _, lost = kinds(
        [book(snapshot(SAMSUNG, 700_000), samsung_base), book(snapshot(KIS, 0), kis_base)], [ours]
    )

    assert arrived == []
    assert lost == [(BreakKind.UNMATCHED_TRANSFER, "samsung-cma", "transfer:tr-2")]


def test_unresolved_transfer_keeps_source_cash_pending() -> None:
    """A transfer whose outcome is unknown may or may not have left: not judged yet."""
    ours = RecordedTransfer(
        id="tr-3",
        from_account_id="samsung-cma",
        to_account_id="kis-main",
        amount=Decimal(300_000),
        state=TransferState.UNKNOWN,
        requested_at=LONG_AGO,
    )

    outcome, found = kinds(
        [
            book(snapshot(SAMSUNG, 700_000), snapshot(SAMSUNG, 1_000_000, at=BASE_AT)),
            book(snapshot(KIS, 300_000), snapshot(KIS, 0, at=BASE_AT)),
        ],
        [ours],
    )

    assert found == []
    assert any(p.account_id == "samsung-cma" for p in outcome.pending)


# --- helpers -----------------------------------------------------------------------------------


def test_order_window_starts_at_kst_midnight_or_older_baseline_within_lookback() -> None:
    """Today's KST session by default; back to the baseline if older; never past the lookback."""
    midnight = to_kst(NOW).replace(hour=0, minute=0, second=0, microsecond=0)
    week = timedelta(days=7)

    assert order_window_start(NOW, None, week) == midnight
    assert order_window_start(NOW, NOW - timedelta(days=2), week) == NOW - timedelta(days=2)
    assert order_window_start(NOW, NOW - timedelta(days=30), week) == NOW - week


def test_long_keys_are_shortened_but_stay_distinct() -> None:
    """Keys fit the store's 100 characters; two long ids never collapse into one key."""
    a, b = break_key("tx", "x" * 200 + "a"), break_key("tx", "x" * 200 + "b")

    assert len(a) <= 100
    assert a != b


def test_tolerances_refuse_negative_and_float() -> None:
    """Tolerances are non-negative Decimals."""
    with pytest.raises(ValueError):
        Tolerances(cash=Decimal(-1))
    with pytest.raises(TypeError):
        Tolerances(cash=0.5)  # type: ignore[arg-type]


# --- portfolio ---------------------------------------------------------------------------------


def test_portfolio_values_positions_at_last_price_and_totals_cash_by_institution() -> None:
    """Cash per institution, positions at last price (override > source > cost), totals."""
    kis = snapshot(KIS, 100_000)
    kis = type(kis)(
        account=KIS,
        source="kis",
        taken_at=NOW,
        cash=kis.cash,
        positions=(
            position(KIS, "005930", 10, last_price=Decimal(71_000), name="삼성전자"),
            position(KIS, "000660", 2, avg_price=150_000),  # no last price: valued at cost
            position(KIS, "035720", 5, last_price=Decimal(40_000)),
            position(KIS, "999999", 0, last_price=Decimal(1)),  # sold out, still listed
        ),
    )
    samsung = snapshot(SAMSUNG, 2_000_000)

    p = consolidate("demo", [kis, samsung], as_of=NOW, prices={"035720": Decimal(42_000)})

    assert p.cash_by_institution == {
        "kis": Decimal(100_000),
        "samsung_securities": Decimal(2_000_000),
    }
    values = {v.symbol: (v.price, v.market_value, v.priced_at_cost) for v in p.positions}
    assert values == {
        "005930": (Decimal(71_000), Decimal(710_000), False),
        "000660": (Decimal(150_000), Decimal(300_000), True),
        "035720": (Decimal(42_000), Decimal(210_000), False),
    }
    assert p.securities_total == Decimal(1_220_000)
    assert p.cash_total == Decimal(2_100_000)
    assert p.total == Decimal(3_320_000)


def test_readings_carry_what_was_read() -> None:
    """A reading names its source and account; failure explains why it cannot be used."""
    ok = reading(snapshot(KIS, 1))
    failed = Reading(user_id="demo", account_id="x", source="kis", taken_at=NOW)

    assert ok.ok
    assert failed.failure == "no snapshot"
