"""The declared vocabulary of step and workflow conditions: data, never code.

A `when:` list holds condition objects; every one must hold (AND). Each object has exactly one
key from the vocabulary below, so a misspelt condition is refused at load with its line, and
nothing in a workflow file is ever evaluated as an expression.

    kis_orderable_at_least: 500000     KIS orderable cash (주문가능) is at least this
    kis_orderable_below: 1000000       ... is below this
    portfolio_value_at_least: 1000000  consolidated portfolio value is at least this
    reconcile_clean: true              the last reconcile step of this run found no breaks
                                       (false: it found some)
    month_in: [1, 4, 7, 10]            the fire's KST month is one of these
    weekday_in: [mon, fri]             the fire's KST weekday is one of these
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from orchestrator.domain.money import to_money
from orchestrator.domain.timeutil import to_kst

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _money(value: object) -> object:
    try:
        return to_money(value)
    except TypeError:  # pydantic reports only ValueError/AssertionError as input errors
        raise ValueError(
            f"money is whole won as an int or a numeric string, not {value!r} (floats are "
            "refused: money is exact)"
        ) from None


Money = Annotated[Decimal, BeforeValidator(_money), Field(ge=0)]
"""A KRW amount: an int or numeric string in YAML (a float is refused: money is exact)."""


class Condition(BaseModel):
    """One condition: exactly one key of the vocabulary."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kis_orderable_at_least: Money | None = None
    kis_orderable_below: Money | None = None
    portfolio_value_at_least: Money | None = None
    reconcile_clean: bool | None = None
    month_in: tuple[Annotated[int, Field(ge=1, le=12)], ...] | None = None
    weekday_in: tuple[Weekday, ...] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Condition:
        given = [name for name in type(self).model_fields if getattr(self, name) is not None]
        if len(given) != 1:
            known = ", ".join(type(self).model_fields)
            raise ValueError(f"a condition has exactly one key (one of: {known}); got {given}")
        return self

    @property
    def key(self) -> str:
        return next(n for n in type(self).model_fields if getattr(self, n) is not None)

    @property
    def needs_portfolio(self) -> bool:
        return self.key in (
            "kis_orderable_at_least",
            "kis_orderable_below",
            "portfolio_value_at_least",
        )


@dataclass(frozen=True, slots=True)
class Facts:
    """What conditions may look at. None: not known in this run (the condition then fails)."""

    fire_at: datetime
    kis_orderable: Decimal | None = None
    portfolio_value: Decimal | None = None
    reconcile_clean: bool | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    holds: bool
    detail: str


def evaluate(condition: Condition, facts: Facts) -> Verdict:
    """Whether `condition` holds on `facts`, with a sentence for the run's decisions."""
    key = condition.key
    fire = to_kst(facts.fire_at)
    if condition.kis_orderable_at_least is not None:
        return _compare(key, facts.kis_orderable, condition.kis_orderable_at_least, at_least=True)
    if condition.kis_orderable_below is not None:
        return _compare(key, facts.kis_orderable, condition.kis_orderable_below, at_least=False)
    if condition.portfolio_value_at_least is not None:
        return _compare(
            key, facts.portfolio_value, condition.portfolio_value_at_least, at_least=True
        )
    if condition.reconcile_clean is not None:
        if facts.reconcile_clean is None:
            return Verdict(False, f"{key}: no reconcile step ran earlier in this run")
        holds = facts.reconcile_clean == condition.reconcile_clean
        return Verdict(holds, f"{key}: reconcile clean={facts.reconcile_clean}")
    if condition.month_in is not None:
        holds = fire.month in condition.month_in
        return Verdict(holds, f"{key}: month {fire.month} in {list(condition.month_in)}={holds}")
    assert condition.weekday_in is not None
    day = WEEKDAYS[fire.weekday()]
    holds = day in condition.weekday_in
    return Verdict(holds, f"{key}: {day} in {list(condition.weekday_in)}={holds}")


def _compare(key: str, value: Decimal | None, bound: Decimal, *, at_least: bool) -> Verdict:
    if value is None:
        return Verdict(False, f"{key}: value unknown")
    holds = value >= bound if at_least else value < bound
    return Verdict(holds, f"{key}: {value} vs {bound}={holds}")


def evaluate_all(conditions: Sequence[Condition], facts: Facts) -> Verdict:
    """AND of `conditions`; the first failing one explains the verdict."""
    details = []
    for condition in conditions:
        verdict = evaluate(condition, facts)
        if not verdict.holds:
            return verdict
        details.append(verdict.detail)
    return Verdict(True, "; ".join(details) or "no conditions")
