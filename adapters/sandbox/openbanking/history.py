"""Deterministic transaction history for a seeded account.

Same seed number + same window → same rows, so demos and tests are reproducible. The history is
built backwards from the seeded balance, so replaying it forward ends exactly on that balance and
every ``after_balance_amt`` is consistent (a reconciler can trust the chain). Row shapes follow
spec §2.4: Korean ``inout_type``/``tran_type`` text, ``기타`` rows carry amount 0.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from .formats import KST
from .ledger import InoutType, Transaction, signed


@dataclass(frozen=True)
class _Template:
    weight: int
    inout_type: InoutType
    tran_type: str
    print_content: str
    low: int
    high: int
    unit: int
    branch_name: str = ""


# What a securities CMA statement looks like: salary in, settlement of trades, card spending,
# monthly CMA interest. Amounts are KRW; ``unit`` rounds them the way such postings usually are.
_TEMPLATES: tuple[_Template, ...] = (
    _Template(12, "입금", "타행환", "급여", 2_000_000, 4_500_000, 10_000),
    _Template(10, "입금", "대체", "매도대금", 100_000, 3_000_000, 1_000),
    _Template(8, "입금", "대체", "CMA이자", 50, 9_000, 1),
    _Template(6, "입금", "오픈뱅킹", "오픈뱅킹입금", 10_000, 1_000_000, 10_000),
    _Template(12, "출금", "대체", "매수대금", 100_000, 2_500_000, 1_000),
    _Template(10, "출금", "타행환", "이체출금", 50_000, 1_500_000, 10_000, "디지털지점"),
    _Template(10, "지급", "체크카드", "체크카드결제", 3_000, 200_000, 100),
    _Template(6, "출금", "F/B출금", "자동이체", 10_000, 300_000, 1_000),
    _Template(1, "기타", "기타", "통장정리", 0, 0, 1),
)
_WEIGHTS = [t.weight for t in _TEMPLATES]
_NO_AMOUNT = _TEMPLATES[-1]
_OUTFLOWS = tuple(t for t in _TEMPLATES if t.inout_type in {"출금", "지급"})
_OUTFLOW_WEIGHTS = [t.weight for t in _OUTFLOWS]


def generate_history(
    *, seed: int, count: int, final_balance: int, first_day: datetime, last_day: datetime
) -> list[Transaction]:
    """``count`` rows between the two days (inclusive, KST) ending on ``final_balance``."""
    if count == 0:
        return []
    rng = random.Random(seed)
    moments = _moments(rng, count, first_day, last_day)
    # Walking backwards, an inflow lowers the earlier balance; when it gets low, draw only
    # outflows so the reconstructed past keeps a plausible balance instead of sitting at zero.
    floor = max(final_balance, 0) // 3

    rows: list[tuple[datetime, _Template, int, int]] = []
    after = final_balance
    for moment in reversed(moments):
        pool, weights = (_OUTFLOWS, _OUTFLOW_WEIGHTS) if after < floor else (_TEMPLATES, _WEIGHTS)
        template = rng.choices(pool, weights=weights)[0]
        amount = _amount(rng, template)
        if template.inout_type == "입금" and amount > after:
            # A CMA cannot be overdrawn: a smaller inflow (or a no-amount row) keeps it >= 0.
            amount = (max(after, 0) // template.unit) * template.unit
            if amount == 0:
                template = _NO_AMOUNT
        rows.append((moment, template, amount, after))
        after -= signed(template.inout_type, amount)
    rows.reverse()

    return [
        Transaction(
            seq=index,
            at=moment,
            inout_type=template.inout_type,
            tran_type=template.tran_type,
            print_content=template.print_content,
            amount=amount if template.inout_type != "기타" else 0,
            after_balance=after_balance,
            branch_name=template.branch_name,
        )
        for index, (moment, template, amount, after_balance) in enumerate(rows, start=1)
    ]


def opening_balance(history: list[Transaction], final_balance: int) -> int:
    return final_balance - sum(signed(t.inout_type, t.amount) for t in history)


def _amount(rng: random.Random, template: _Template) -> int:
    if template.inout_type == "기타":
        return 0
    raw = rng.randint(template.low, template.high)
    return max(template.unit, (raw // template.unit) * template.unit)


def _moments(
    rng: random.Random, count: int, first_day: datetime, last_day: datetime
) -> list[datetime]:
    days = (last_day.date() - first_day.date()).days + 1
    start = datetime.combine(first_day.date(), time(0, 0), tzinfo=KST)
    seen: set[datetime] = set()
    while len(seen) < count:
        day = rng.randrange(days)
        # Mostly business hours; the distinct-seconds loop keeps timestamps unique, which makes
        # the rows easy to eyeball (the relay itself does not promise uniqueness).
        second = (
            rng.randint(9 * 3600, 18 * 3600 - 1) if rng.random() < 0.9 else rng.randint(0, 86_399)
        )
        seen.add(start + timedelta(days=day, seconds=second))
    return sorted(seen)
