"""Rebalance maths: properties over random portfolios, and worked cases."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from orchestrator.domain.model import Side
from orchestrator.workflows.pricing import on_tick
from orchestrator.workflows.rebalance import (
    Holding,
    RebalanceInput,
    RebalancePlan,
    plan_rebalance,
    total_value,
)

D = Decimal
SYMBOLS = ("069500", "114260", "005930")


@st.composite
def portfolios(draw: st.DrawFn, *, all_at_kis: bool = False) -> RebalanceInput:
    count = draw(st.integers(min_value=1, max_value=3))
    symbols = SYMBOLS[:count]
    holdings = {}
    for s in symbols:
        kind = draw(st.sampled_from(["stock", "etf"]))
        step = 5 if kind == "etf" else 1
        price = D(draw(st.integers(min_value=200, max_value=100_000)) * step)
        holdings[s] = Holding(
            symbol=s,
            price=price,
            kis_quantity=draw(st.integers(min_value=0, max_value=2_000)),
            other_quantity=0 if all_at_kis else draw(st.integers(min_value=0, max_value=2_000)),
            kind=kind,
            lot=draw(st.sampled_from([1, 1, 10])),
        )
    raw = [draw(st.integers(min_value=0, max_value=100)) for _ in symbols]
    scale = max(sum(raw), 100)
    targets = {s: D(w) / scale for s, w in zip(symbols, raw, strict=True)}
    cash = D(draw(st.integers(min_value=0, max_value=200_000_000)))
    return RebalanceInput(
        holdings=holdings,
        targets=targets,
        budget=cash - D(draw(st.integers(min_value=0, max_value=1_000_000))),
        counted_cash=cash,
        band=D(draw(st.integers(min_value=1, max_value=10))) / 100,
        min_trade=D(draw(st.sampled_from([0, 0, 100_000]))),
        offset_bps=draw(st.sampled_from([None, 0, 10, 50])),
        fee_bps=draw(st.sampled_from([0, 2, 15])),
    )


def _after(inp: RebalanceInput, plan: RebalancePlan) -> dict[str, Decimal]:
    """Weights after the plan fills at its prices, valued at the quotes."""
    qty = {s: h.kis_quantity + h.other_quantity for s, h in inp.holdings.items()}
    cash = inp.counted_cash
    for t in plan.trades:
        qty[t.symbol] += t.quantity if t.side is Side.BUY else -t.quantity
        cash += -t.cost if t.side is Side.BUY else t.cost
    total = cash + sum(inp.holdings[s].price * q for s, q in qty.items())
    return {s: inp.holdings[s].price * q / total for s, q in qty.items()}


@settings(max_examples=300)
@given(portfolios())
def test_never_spends_more_than_the_orderable_budget(inp: RebalanceInput) -> None:
    """Worst-case buy costs (limit or market buffer, plus fees) never exceed the budget."""
    plan = plan_rebalance(inp)

    spent = sum((t.cost for t in plan.trades if t.side is Side.BUY), D(0))
    assert spent == plan.buy_cost
    assert spent <= max(inp.budget, D(0))


@settings(max_examples=300)
@given(portfolios())
def test_orders_respect_ticks_lots_kis_holdings_and_order(inp: RebalanceInput) -> None:
    """Ticks, whole lots, sells within KIS shares and before buys, nothing below min trade."""
    plan = plan_rebalance(inp)

    sides = [t.side for t in plan.trades]
    assert sides == sorted(sides, key=lambda s: s is Side.BUY)
    for t in plan.trades:
        h = inp.holdings[t.symbol]
        assert t.quantity > 0
        assert t.quantity % h.lot == 0
        if t.limit:
            assert on_tick(t.price, h.kind)
        if t.side is Side.SELL:
            assert t.quantity <= h.kis_quantity
        assert t.notional >= inp.min_trade
    assert len({t.symbol for t in plan.trades}) == len(plan.trades)


@settings(max_examples=300)
@given(portfolios(all_at_kis=True))
def test_lands_within_the_band_when_cash_and_lots_allow(inp: RebalanceInput) -> None:
    """With enough cash, shares at KIS and lots small to the band, every weight lands in band."""
    inp = RebalanceInput(
        holdings=inp.holdings,
        targets=inp.targets,
        budget=inp.counted_cash,
        counted_cash=inp.counted_cash,
        band=inp.band,
        min_trade=D(0),
        offset_bps=0,
        fee_bps=0,
    )
    total = total_value(inp.holdings, inp.counted_cash)
    assume(total > 0)
    assume(all(h.price * h.lot <= inp.band * total for h in inp.holdings.values()))
    need = sum((max(inp.targets[s] * total - h.value, D(0)) for s, h in inp.holdings.items()), D(0))
    assume(need <= inp.counted_cash)

    plan = plan_rebalance(inp)

    after = _after(inp, plan)
    for s, target in inp.targets.items():
        assert abs(after[s] - target) <= inp.band, (s, after[s], target)


def test_quarterly_60_40_example() -> None:
    """70/20 drifts to 60/40: sell 069500 at KIS first, then buy 114260 within orderable cash."""
    inp = RebalanceInput(
        holdings={
            "069500": Holding(
                "069500", D(35_000), kis_quantity=200, other_quantity=100, kind="etf"
            ),
            "114260": Holding("114260", D(60_000), kis_quantity=50, kind="etf"),
        },
        targets={"069500": D("0.6"), "114260": D("0.4")},
        budget=D(1_400_000),
        counted_cash=D(1_500_000),
        band=D("0.05"),
        min_trade=D(200_000),
        offset_bps=10,
        fee_bps=2,
    )

    plan = plan_rebalance(inp)

    assert [(t.side, t.symbol, t.quantity, t.price) for t in plan.trades] == [
        (Side.SELL, "069500", 42, D(34_965)),
        (Side.BUY, "114260", 23, D(60_060)),
    ]
    assert plan.buy_cost <= D(1_400_000)
    assert plan.shortfall > 0


def test_within_band_means_no_trade() -> None:
    """Weights inside the band are left alone."""
    inp = RebalanceInput(
        holdings={"069500": Holding("069500", D(10_000), kis_quantity=62)},
        targets={"069500": D("0.6")},
        budget=D(380_000),
        counted_cash=D(380_000),
        band=D("0.05"),
    )

    plan = plan_rebalance(inp)

    assert plan.trades == ()
    assert [d.outcome for d in plan.decisions] == ["within_band"]


def test_shares_held_only_at_samsung_are_never_sold() -> None:
    """Overweight held at Samsung only: counted in the weights, but nothing to sell at KIS."""
    inp = RebalanceInput(
        holdings={"069500": Holding("069500", D(10_000), kis_quantity=0, other_quantity=100)},
        targets={"069500": D("0.5")},
        budget=D(0),
        counted_cash=D(0),
        band=D("0.05"),
    )

    plan = plan_rebalance(inp)

    assert plan.trades == ()
    assert plan.decisions[0].outcome == "nothing_to_sell_at_kis"


def test_trades_below_the_minimum_are_dropped() -> None:
    """A drift worth less than min_trade produces no order."""
    inp = RebalanceInput(
        holdings={"069500": Holding("069500", D(10_000), kis_quantity=0)},
        targets={"069500": D("0.1")},
        budget=D(1_000_000),
        counted_cash=D(1_000_000),
        band=D("0.05"),
        min_trade=D(200_000),
    )

    plan = plan_rebalance(inp)

    assert plan.trades == ()
    assert plan.decisions[0].outcome == "below_min_trade"
