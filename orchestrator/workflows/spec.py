"""Workflow files under config/workflows/: what to do (workflows) apart from when (schedules).

Every model refuses unknown keys, so a misspelt key or step name fails at load with its file and
line (see `loader`). A file may hold any of three sections:

    instruments:   symbol -> {kind: stock|etf, lot: 1}    (tick table and lot size; default stock)
    workflows:     name -> WorkflowSpec                    (named, ordered steps)
    schedules:     name -> ScheduleSpec                    (cron in Asia/Seoul, KRX trading days)

Symbols are six-character KRX codes written in quotes ('005930'): unquoted, YAML reads 005930 as
the number 5930. Money is an int (or numeric string) of won; floats are refused.
"""

from __future__ import annotations

import re
import string
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal, get_args

from apscheduler.triggers.cron import CronTrigger
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PositiveInt,
    Tag,
    field_validator,
    model_validator,
)

from orchestrator.domain.alerts import Severity
from orchestrator.domain.timeutil import KST
from orchestrator.settings import Section
from orchestrator.workflows.conditions import Condition, Money

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
Name = Annotated[str, Field(pattern=NAME_PATTERN)]
StepId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]
UserId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
Bps = Annotated[int, Field(ge=0, le=5_000)]
Percent = Annotated[Decimal, Field(ge=0, le=100)]


def _symbol(value: object) -> object:
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError(
            f"write the symbol in quotes, e.g. '000660': unquoted, YAML may read a code as a "
            f"number (here {value})"
        )
    return value


Symbol = Annotated[str, BeforeValidator(_symbol), Field(pattern=r"^[0-9A-Z]{6}$")]

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("a duration is e.g. 90s, 30m, 4h or 1d")
    if isinstance(value, int):
        return timedelta(seconds=value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise ValueError("a duration is e.g. 90s, 30m, 4h or 1d")
        return timedelta(seconds=int(match[1]) * _UNIT_SECONDS[match[2]])
    return value


Duration = Annotated[timedelta, BeforeValidator(_duration)]

FIGURES = (
    "workflow",
    "date",
    "total_value",
    "positions_value",
    "kis_orderable",
    "kis_cash",
    "samsung_cash",
    "position_count",
    "orders",
)
"""Placeholders a notify message may use ($total_value or ${total_value}). `$orders` names the
run's orders in the right tense: "placed buy 4 005930 @ ₩71,800", or in a dry run "would place
buy 4 005930 @ ₩71,800" (a dry run never claims it placed anything)."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InstrumentSpec(Strict):
    kind: Literal["stock", "etf"] = "stock"
    lot: PositiveInt = 1


# ---------------------------------------------------------------------------------------------
# Prices
# ---------------------------------------------------------------------------------------------


class LimitPrice(Strict):
    """A limit `offset_bps` through the last quote (above to buy, below to sell), on a tick."""

    type: Literal["limit"] = "limit"
    offset_bps: Bps = 0


class MarketPrice(Strict):
    type: Literal["market"]


def _price_type(value: object) -> str:
    if isinstance(value, dict):
        return str(value.get("type", "limit"))
    return str(getattr(value, "type", "limit"))


PriceSpec = Annotated[
    Annotated[LimitPrice, Tag("limit")] | Annotated[MarketPrice, Tag("market")],
    Discriminator(_price_type),
]
"""`{type: limit, offset_bps: 10}` (type may be left out) or `{type: market}`."""

# ---------------------------------------------------------------------------------------------
# Steps: the `step` key picks the model (see steps.REGISTRY)
# ---------------------------------------------------------------------------------------------


class StepBase(Strict):
    id: StepId | None = None  # default: the step kind (kind-N when repeated)
    when: tuple[Condition, ...] = ()

    @property
    def key(self) -> str:
        assert self.id is not None, "ids are assigned when the workflow is validated"
        return self.id

    def symbols(self) -> tuple[str, ...]:
        return ()


class ReconcileStep(StepBase):
    """Run a reconciliation now. With `stop_on_breaks`, breaks end the run before later steps."""

    step: Literal["reconcile"]
    stop_on_breaks: bool = True


class SnapshotStep(StepBase):
    """Read and store a snapshot of every account of the workflow's user."""

    step: Literal["snapshot"]


class RebalanceStep(StepBase):
    """Bring target weights (percent of the rebalanced portfolio) back within the drift band."""

    step: Literal["rebalance"]
    targets: dict[Symbol, Percent] = Field(min_length=1)
    drift_band_pct: Annotated[Decimal, Field(gt=0, le=50)] = Decimal(5)
    min_trade: Money = Decimal(100_000)
    cash_reserve: Money = Decimal(0)
    count_samsung_cash: bool = False
    price: PriceSpec = LimitPrice()
    fee_bps: Bps = 2

    @field_validator("targets")
    @classmethod
    def _at_most_100(cls, v: dict[str, Decimal]) -> dict[str, Decimal]:
        total = sum(v.values(), Decimal(0))
        if total > 100:
            raise ValueError(f"target weights sum to {total}%: at most 100 (the rest is cash)")
        return v

    def symbols(self) -> tuple[str, ...]:
        return tuple(sorted(self.targets))


class BuyOrderSpec(Strict):
    """One DCA purchase: a fixed KRW `amount` (whole shares within it) or a share `quantity`."""

    symbol: Symbol
    amount: Annotated[Money, Field(gt=0)] | None = None
    quantity: PositiveInt | None = None

    @model_validator(mode="after")
    def _amount_or_quantity(self) -> BuyOrderSpec:
        if (self.amount is None) == (self.quantity is None):
            raise ValueError("give exactly one of `amount` (KRW) and `quantity` (shares)")
        return self


class BuyStep(StepBase):
    step: Literal["buy"]
    orders: tuple[BuyOrderSpec, ...] = Field(min_length=1)
    price: PriceSpec = LimitPrice()
    fee_bps: Bps = 2

    def symbols(self) -> tuple[str, ...]:
        return tuple(sorted({o.symbol for o in self.orders}))


class EnsureCashBufferStep(StepBase):
    """Keep KIS orderable cash at or above `floor`; when short, alert and optionally propose a
    funding transfer (Samsung -> KIS) up to `top_up_to`, which an operator must approve."""

    step: Literal["ensure_cash_buffer"]
    floor: Annotated[Money, Field(gt=0)]
    top_up_to: Money | None = None
    propose_transfer: bool = False
    severity: Severity = Severity.WARNING

    @model_validator(mode="after")
    def _top_up_above_floor(self) -> EnsureCashBufferStep:
        if self.top_up_to is not None and self.top_up_to < self.floor:
            raise ValueError("top_up_to must be at least floor")
        return self


class NotifyStep(StepBase):
    """Send `message` (with $placeholders from spec.FIGURES) through the Notifier."""

    step: Literal["notify"]
    message: str = Field(min_length=1, max_length=2_000)
    include_positions: bool = False
    severity: Severity = Severity.INFO

    @field_validator("message")
    @classmethod
    def _known_placeholders(cls, v: str) -> str:
        template = string.Template(v)
        if not template.is_valid():
            raise ValueError("invalid placeholder: write $name or ${name}, and $$ for a dollar")
        unknown = sorted(set(template.get_identifiers()) - set(FIGURES))
        if unknown:
            raise ValueError(f"unknown placeholder(s) {unknown}; known: {', '.join(FIGURES)}")
        return v


StepSpec = Annotated[
    ReconcileStep | SnapshotStep | RebalanceStep | BuyStep | EnsureCashBufferStep | NotifyStep,
    Field(discriminator="step"),
]
STEP_MODELS: tuple[type[StepBase], ...] = (
    ReconcileStep,
    SnapshotStep,
    RebalanceStep,
    BuyStep,
    EnsureCashBufferStep,
    NotifyStep,
)
STEP_KINDS: tuple[str, ...] = tuple(
    get_args(m.model_fields["step"].annotation)[0] for m in STEP_MODELS
)
TRADING_STEPS = frozenset({"rebalance", "buy"})

# ---------------------------------------------------------------------------------------------
# Guardrails, approval, workflows
# ---------------------------------------------------------------------------------------------


class GuardrailSpec(Strict):
    """Risk limits of one workflow (tightened further by the house limits in settings).

    `allowed_symbols` defaults to the symbols the workflow's steps name. The per-day cap counts
    every workflow order sent that KST day. The collar bounds a limit price around the last
    quote; `session_hours` sends orders only while the KRX regular session is open.
    """

    max_order_notional: Money = Decimal(5_000_000)
    max_daily_notional: Money = Decimal(20_000_000)
    max_orders_per_run: Annotated[int, Field(ge=0, le=1_000)] = 10
    allowed_symbols: tuple[Symbol, ...] | None = None
    price_collar_bps: Bps = 300
    session_hours: bool = True
    max_transfer_amount: Money = Decimal(5_000_000)


class HouseLimits(Strict):
    """Ceilings over every workflow (settings `workflows.house_limits`); unset: no ceiling."""

    max_order_notional: Money | None = None
    max_daily_notional: Money | None = None
    max_orders_per_run: Annotated[int, Field(ge=0)] | None = None
    allowed_symbols: tuple[Symbol, ...] | None = None
    price_collar_bps: Bps | None = None
    max_transfer_amount: Money | None = None


class ApprovalSpec(Strict):
    expires_after: Duration = timedelta(hours=4)

    @field_validator("expires_after")
    @classmethod
    def _positive(cls, v: timedelta) -> timedelta:
        if v <= timedelta(0):
            raise ValueError("expires_after must be positive")
        return v


class WorkflowSpec(Strict):
    """Named, ordered steps. `mode: approval` turns each run into a plan an operator approves;
    the default is approval for workflows that trade (buy/rebalance), auto otherwise."""

    description: str = ""
    user: UserId = "demo"
    # The trading account (our id, e.g. kis-main) its orders go to, whichever broker holds it;
    # None: the user's first trading account.
    account: str | None = Field(default=None, min_length=1, max_length=64)
    mode: Literal["auto", "approval"] | None = None
    approval: ApprovalSpec = ApprovalSpec()
    guardrails: GuardrailSpec = GuardrailSpec()
    when: tuple[Condition, ...] = ()
    steps: tuple[StepSpec, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _assign_step_ids(self) -> WorkflowSpec:
        counts: dict[str, int] = {}
        for s in self.steps:
            counts[s.step] = counts.get(s.step, 0) + 1
        seen: dict[str, int] = {}
        steps = []
        for i, s in enumerate(self.steps):
            seen[s.step] = seen.get(s.step, 0) + 1
            default = s.step if counts[s.step] == 1 else f"{s.step}-{seen[s.step]}"
            steps.append(s if s.id is not None else s.model_copy(update={"id": default}))
            if steps[-1].id in {x.id for x in steps[:-1]}:
                raise ValueError(f"steps[{i}]: duplicate step id {steps[-1].id!r}")
        object.__setattr__(self, "steps", tuple(steps))
        return self

    @model_validator(mode="after")
    def _symbols_allowed(self) -> WorkflowSpec:
        allowed = self.guardrails.allowed_symbols
        if allowed is not None:
            extra = sorted(set(self.symbols()) - set(allowed))
            if extra:
                raise ValueError(f"steps trade {extra}, outside guardrails.allowed_symbols")
        return self

    @model_validator(mode="after")
    def _offset_inside_collar(self) -> WorkflowSpec:
        for s in self.steps:
            price = getattr(s, "price", None)
            if (
                isinstance(price, LimitPrice)
                and price.offset_bps > self.guardrails.price_collar_bps
            ):
                raise ValueError(
                    f"step {s.id!r}: price.offset_bps {price.offset_bps} exceeds "
                    f"guardrails.price_collar_bps {self.guardrails.price_collar_bps}: "
                    "every order would be blocked"
                )
        return self

    @property
    def trades(self) -> bool:
        return any(s.step in TRADING_STEPS for s in self.steps)

    @property
    def effective_mode(self) -> Literal["auto", "approval"]:
        if self.mode is not None:
            return self.mode
        return "approval" if self.trades else "auto"

    def symbols(self) -> tuple[str, ...]:
        return tuple(sorted({sym for s in self.steps for sym in s.symbols()}))


# ---------------------------------------------------------------------------------------------
# Schedules
# ---------------------------------------------------------------------------------------------


class ScheduleSpec(Strict):
    """When a workflow runs. `cron` is a 5-field crontab in Asia/Seoul (minute hour day month
    day-of-week); day-of-week by name (mon-fri): APScheduler 3 numbers weekdays from Monday=0,
    unlike cron, so digits there are refused. Unlike cron, day and day-of-week must both match.

    `trading_days_only` drops fires on KRX closed days. `trading_day_of_month: N` keeps only the
    fire on the Nth KRX trading day of its month (cron daily, e.g. "0 10 * 1,4,7,10 *" with N=1
    is "the first trading day of each quarter"). A fire later than `misfire_grace_seconds` is
    dropped; after an outage `catch_up: latest` runs the missed fires once (as the latest),
    `every` runs each of them. Runs are keyed by the nominal fire time, so a fire never runs twice.
    """

    workflow: Name
    cron: str
    timezone: Literal["Asia/Seoul"] = "Asia/Seoul"
    trading_days_only: bool = True
    trading_day_of_month: Annotated[int, Field(ge=1, le=23)] | None = None
    misfire_grace_seconds: PositiveInt = 600
    catch_up: Literal["latest", "every"] = "latest"
    enabled: bool = True

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, v: str) -> str:
        fields = v.split()
        if len(fields) != 5:
            raise ValueError(f"cron needs 5 fields (minute hour day month weekday), got {v!r}")
        if any(ch.isdigit() for ch in fields[4]):
            raise ValueError("write the weekday field by name (mon-fri), not by number")
        try:
            CronTrigger.from_crontab(v, timezone=KST)
        except (ValueError, TypeError) as e:
            raise ValueError(f"invalid cron expression: {e}") from e
        return v

    def trigger(self) -> CronTrigger:
        """The APScheduler trigger (without the trading-day filters)."""
        return CronTrigger.from_crontab(self.cron, timezone=KST)


class WorkflowFile(Strict):
    instruments: dict[Symbol, InstrumentSpec] = Field(default_factory=dict)
    workflows: dict[Name, WorkflowSpec] = Field(default_factory=dict)
    schedules: dict[Name, ScheduleSpec] = Field(default_factory=dict)


class WorkflowsSettings(Section):
    """The `workflows:` section of config/orchestrator.yaml (`LoadedSettings.section`)."""

    enabled: bool = True
    directory: Path = Path("config/workflows")
    house_limits: HouseLimits = HouseLimits()
