"""One user's consolidated portfolio across institutions: cash by institution, positions valued at
the last price (or cost), totals. Pure: no I/O, no clock reads (`as_of` is an argument).

Each position says where its price came from and when (`price_source`, `priced_at`): a quote
given in `prices` (a fresh real-time price, "stream"), else the source's own last price as of
its read, else cost."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from orchestrator.domain.model import Quote, Snapshot
from orchestrator.domain.money import ZERO


@dataclass(frozen=True, slots=True)
class PositionValue:
    account_id: str
    institution: str
    symbol: str
    name: str
    quantity: int
    price: Decimal
    market_value: Decimal
    priced_at_cost: bool = False
    # "stream" for a real-time price, "" for the account source's read; None time when at cost.
    price_source: str = ""
    priced_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Portfolio:
    """One user's holdings across institutions. `stale_accounts`: values from an older read."""

    user_id: str
    as_of: datetime
    cash_by_institution: Mapping[str, Decimal]
    securities_by_institution: Mapping[str, Decimal]
    positions: tuple[PositionValue, ...]
    cash_total: Decimal
    securities_total: Decimal
    total: Decimal
    stale_accounts: tuple[str, ...] = ()


def institution_label(snapshot: Snapshot) -> str:
    return snapshot.account.institution.name.lower()


def consolidate(
    user_id: str,
    snapshots: Sequence[Snapshot],
    *,
    as_of: datetime,
    prices: Mapping[str, Decimal | Quote] | None = None,
    stale_accounts: Sequence[str] = (),
) -> Portfolio:
    """Cash by institution (deposit), positions valued at the last price (`prices`: a quote,
    dated, or a bare price dated `as_of`; else the source's last price, dated by its read; else
    cost), and totals."""
    prices = prices or {}
    cash: dict[str, Decimal] = {}
    securities: dict[str, Decimal] = {}
    values: list[PositionValue] = []
    for snapshot in snapshots:
        label = institution_label(snapshot)
        if snapshot.cash is not None:
            cash[label] = cash.get(label, ZERO) + snapshot.cash.deposit
        for p in snapshot.positions:
            if p.quantity == 0:
                continue
            given = prices.get(p.symbol)
            price: Decimal | None
            source, priced_at = "", None
            if isinstance(given, Quote):
                price, source, priced_at = given.price, given.source, given.as_of
            elif given is not None:
                price, priced_at = given, as_of
            else:
                price = p.last_price
                priced_at = None if price is None else snapshot.taken_at
            at_cost = price is None
            unit = p.avg_price if price is None else price
            value = unit * p.quantity
            securities[label] = securities.get(label, ZERO) + value
            values.append(
                PositionValue(
                    account_id=snapshot.account.account_id,
                    institution=label,
                    symbol=p.symbol,
                    name=p.name,
                    quantity=p.quantity,
                    price=unit,
                    market_value=value,
                    priced_at_cost=at_cost,
                    price_source=source,
                    priced_at=priced_at,
                )
            )
    cash_total = sum(cash.values(), ZERO)
    securities_total = sum(securities.values(), ZERO)
    return Portfolio(
        user_id=user_id,
        as_of=as_of,
        cash_by_institution=dict(sorted(cash.items())),
        securities_by_institution=dict(sorted(securities.items())),
        positions=tuple(sorted(values, key=lambda v: (v.institution, v.account_id, v.symbol))),
        cash_total=cash_total,
        securities_total=securities_total,
        total=cash_total + securities_total,
        stale_accounts=tuple(stale_accounts),
    )
