"""Rebalance maths: pure functions from holdings, quotes and targets to orders. No I/O.

The rebalanced portfolio is the target symbols (held anywhere: KIS and Samsung) plus the cash the
workflow counts (KIS orderable cash, and Samsung cash only when the workflow says so). Symbols
outside the targets are left alone and are not part of it. Weights are valued at the last quote.

- A symbol whose weight is within the drift band of its target is not traded.
- Orders are placed only at KIS: a sell never exceeds the shares held at KIS.
- Buys spend only `budget` (KIS orderable cash less the reserve; never the headline deposit, never
  the proceeds of this run's sells, which settle later). When the buys want more, every buy is
  scaled down by the same factor and rounded down to whole lots, so the sum of their worst-case
  costs (limit price, or quote plus the market buffer for market orders, plus fees) never exceeds
  the budget.
- Quantities are whole lots, rounded towards the target (a trade never overshoots it); prices are
  on the KRX tick grid. Trades below the minimum size are dropped.
- Sells come before buys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from orchestrator.domain.model import Side
from orchestrator.domain.money import ZERO
from orchestrator.workflows.pricing import (
    BPS,
    InstrumentKind,
    floor_to_lot,
    limit_price,
    with_fee,
)


@dataclass(frozen=True, slots=True)
class Holding:
    """One target symbol: its last quote and the shares held at KIS and elsewhere."""

    symbol: str
    price: Decimal
    kis_quantity: int = 0
    other_quantity: int = 0
    kind: InstrumentKind = "stock"
    lot: int = 1

    @property
    def value(self) -> Decimal:
        return self.price * (self.kis_quantity + self.other_quantity)


@dataclass(frozen=True, slots=True)
class RebalanceInput:
    holdings: Mapping[str, Holding]
    targets: Mapping[str, Decimal]  # fractions in [0, 1], summing to at most 1
    budget: Decimal  # what buys may spend
    counted_cash: Decimal  # cash inside the rebalanced portfolio
    band: Decimal  # fraction: 0.05 means ±5 percentage points
    min_trade: Decimal = ZERO
    offset_bps: int | None = 0  # None: market orders
    market_buffer_bps: int = 300  # worst-case premium assumed for a market buy
    fee_bps: int = 0


@dataclass(frozen=True, slots=True)
class Trade:
    symbol: str
    side: Side
    quantity: int
    price: Decimal  # the limit price, or the quote for a market order
    limit: bool
    cost: Decimal  # buys: worst-case cash out incl. fees; sells: proceeds at the limit

    @property
    def notional(self) -> Decimal:
        return self.price * self.quantity


@dataclass(frozen=True, slots=True)
class SymbolDecision:
    symbol: str
    weight: Decimal
    target: Decimal
    # within_band | trade | below_one_lot | below_min_trade | nothing_to_sell_at_kis | no_budget
    outcome: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class RebalancePlan:
    trades: tuple[Trade, ...]
    decisions: tuple[SymbolDecision, ...]
    total_value: Decimal
    buy_cost: Decimal
    shortfall: Decimal  # what the buys wanted beyond the budget


def total_value(holdings: Mapping[str, Holding], counted_cash: Decimal) -> Decimal:
    return sum((h.value for h in holdings.values()), counted_cash)


def plan_rebalance(inp: RebalanceInput) -> RebalancePlan:
    """Orders that bring every drifted target symbol back towards its target weight."""
    total = total_value(inp.holdings, inp.counted_cash)
    if total <= 0:
        return RebalancePlan((), (), total, ZERO, ZERO)
    decisions: list[SymbolDecision] = []
    sells: list[Trade] = []
    wanted: list[tuple[Holding, int, Decimal]] = []  # (holding, quantity, worst-case share cost)
    for symbol in sorted(inp.targets):
        h = inp.holdings[symbol]
        target = inp.targets[symbol]
        weight = h.value / total
        if abs(weight - target) <= inp.band:
            decisions.append(SymbolDecision(symbol, weight, target, "within_band"))
            continue
        gap = target * total - h.value  # value to add (+) or remove (-)
        if gap < 0:
            sell = _sell(h, -gap, inp)
            if isinstance(sell, str):
                decisions.append(SymbolDecision(symbol, weight, target, sell))
            elif sell.notional < inp.min_trade:
                decisions.append(
                    SymbolDecision(symbol, weight, target, "below_min_trade", str(sell.notional))
                )
            else:
                sells.append(sell)
                decisions.append(SymbolDecision(symbol, weight, target, "trade"))
            continue
        quantity = floor_to_lot(gap / h.price, h.lot)
        share_cost = with_fee(_buy_price(h, inp), inp.fee_bps)
        wanted.append((h, quantity, share_cost))
        decisions.append(SymbolDecision(symbol, weight, target, "trade"))
    buys, shortfall = _fit_budget(wanted, inp)
    kept = []
    for trade, (_, asked, _) in zip(buys, wanted, strict=True):
        if asked == 0:
            _redecide(decisions, trade.symbol, "below_one_lot", "")
        elif trade.quantity == 0:
            _redecide(decisions, trade.symbol, "no_budget", f"short by {shortfall}")
        elif trade.notional < inp.min_trade:
            _redecide(decisions, trade.symbol, "below_min_trade", str(trade.notional))
        else:
            if trade.quantity < asked:
                _redecide(decisions, trade.symbol, "trade", f"scaled {asked}->{trade.quantity}")
            kept.append(trade)
    buy_cost = sum((t.cost for t in kept), ZERO)
    return RebalancePlan((*sells, *kept), tuple(decisions), total, buy_cost, shortfall)


def _buy_price(h: Holding, inp: RebalanceInput) -> Decimal:
    if inp.offset_bps is None:
        return h.price * (1 + inp.market_buffer_bps / BPS)
    return limit_price(h.price, Side.BUY, inp.offset_bps, h.kind)


def _sell(h: Holding, excess: Decimal, inp: RebalanceInput) -> Trade | str:
    """The sell, or why there is none."""
    wanted = floor_to_lot(excess / h.price, h.lot)
    if wanted == 0:
        return "below_one_lot"
    quantity = min(wanted, floor_to_lot(h.kis_quantity, h.lot))
    if quantity <= 0:
        return "nothing_to_sell_at_kis"
    limit = inp.offset_bps is not None
    price = limit_price(h.price, Side.SELL, inp.offset_bps or 0, h.kind) if limit else h.price
    return Trade(h.symbol, Side.SELL, quantity, price, limit, price * quantity)


def _fit_budget(
    wanted: list[tuple[Holding, int, Decimal]], inp: RebalanceInput
) -> tuple[list[Trade], Decimal]:
    desired = sum((q * cost for _, q, cost in wanted), ZERO)
    budget = max(inp.budget, ZERO)
    shortfall = max(desired - budget, ZERO)
    scale = Decimal(1) if desired <= budget else budget / desired
    trades = []
    for h, q, cost in wanted:
        quantity = q if scale == 1 else floor_to_lot(q * scale, h.lot)
        limit = inp.offset_bps is not None
        price = limit_price(h.price, Side.BUY, inp.offset_bps or 0, h.kind) if limit else h.price
        trades.append(Trade(h.symbol, Side.BUY, quantity, price, limit, quantity * cost))
    return trades, shortfall


def _redecide(decisions: list[SymbolDecision], symbol: str, outcome: str, detail: str) -> None:
    for i, d in enumerate(decisions):
        if d.symbol == symbol:
            decisions[i] = SymbolDecision(d.symbol, d.weight, d.target, outcome, detail)
