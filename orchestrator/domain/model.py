"""The service's vocabulary: plain frozen values, no I/O, no clock reads.

Money is Decimal (KRW), share counts are int, datetimes are timezone-aware. Construction refuses
floats and naive datetimes, so a bad value fails where it is made.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from orchestrator.domain.money import ZERO, check_money, check_quantity
from orchestrator.domain.timeutil import check_aware


class Institution(StrEnum):
    """Financial institutions by their KFTC standard bank code.

    The members are the institutions the core itself reasons about. Any other 3-digit KFTC code
    is an institution too (a broker added behind the ports): `Institution("264")` answers a
    member made on first use, named by the adapter that serves it through `Institution.named`,
    so the core never lists the brokers an adapter may add.
    """

    SAMSUNG_SECURITIES = "240"
    KIS = "243"

    @classmethod
    def named(cls, code: str, name: str) -> Institution:
        """The institution of KFTC `code`, called `name` (e.g. in labels); idempotent."""
        member = cls(code)
        if member.value not in _LISTED:
            _NAMES[member.value] = name.upper()
            member._name_ = name.upper()
        return member

    @classmethod
    def _missing_(cls, value: object) -> Institution | None:
        if not (isinstance(value, str) and len(value) == 3 and value.isdigit()):
            return None
        member = str.__new__(cls, value)
        member._name_ = _NAMES.get(value, f"KFTC_{value}")
        member._value_ = value
        # Cached like a member: one object per code, so `is` comparisons hold.
        cached = cls._value2member_map_.setdefault(value, member)
        return cached if isinstance(cached, Institution) else None


_LISTED = frozenset(m.value for m in Institution)
_NAMES: dict[str, str] = {}


class AccountKind(StrEnum):
    CMA = "cma"
    DEPOSIT = "deposit"
    BROKERAGE = "brokerage"


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    LIMIT = "limit"
    MARKET = "market"


class OrderState(StrEnum):
    """Life of an order as we know it. PENDING_SUBMIT is committed before anything is sent."""

    PENDING_SUBMIT = "pending_submit"
    UNKNOWN = "unknown"
    ACCEPTED = "accepted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    NOT_FOUND = "not_found"

    @property
    def unresolved(self) -> bool:
        """True while we do not know whether the broker holds the order."""
        return self in (OrderState.PENDING_SUBMIT, OrderState.UNKNOWN)

    @property
    def terminal(self) -> bool:
        return self in (
            OrderState.FILLED,
            OrderState.CANCELLED,
            OrderState.REJECTED,
            OrderState.NOT_FOUND,
        )


class TransferState(StrEnum):
    PENDING_SUBMIT = "pending_submit"
    UNKNOWN = "unknown"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def unresolved(self) -> bool:
        return self in (
            TransferState.PENDING_SUBMIT,
            TransferState.UNKNOWN,
            TransferState.PROCESSING,
        )


class BreakKind(StrEnum):
    CASH_MISMATCH = "cash_mismatch"
    POSITION_MISMATCH = "position_mismatch"
    UNKNOWN_ORDER = "unknown_order"
    MISSING_FILL = "missing_fill"
    UNMATCHED_TRANSFER = "unmatched_transfer"
    STALE_SOURCE = "stale_source"


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


@dataclass(frozen=True, slots=True)
class User:
    """An investor served by the service. `display_name` is personal data: masked in logs."""

    id: str
    display_name: str


@dataclass(frozen=True, slots=True)
class AccountRef:
    """Which account, at which institution, for which user.

    `external_ref` is what the institution calls it (fintech_use_num for open banking,
    "CANO-ACNT_PRDT_CD" for KIS); `masked_number` is the only form of the number we show.
    """

    user_id: str
    account_id: str
    institution: Institution
    kind: AccountKind
    external_ref: str
    masked_number: str = ""


@dataclass(frozen=True, slots=True)
class LinkedAccount:
    """An account a user linked, with the source that reads it."""

    ref: AccountRef
    source: str
    linked_at: datetime

    def __post_init__(self) -> None:
        check_aware(self, "linked_at")


@dataclass(frozen=True, slots=True)
class CashBalance:
    """Cash at one institution. Sources that do not report a figure leave it None.

    deposit: the headline balance (예수금 / 잔액). orderable: what can buy now (주문가능).
    withdrawable: settled cash that may leave the account (출금가능, D+2 at a broker).
    """

    account: AccountRef
    deposit: Decimal
    as_of: datetime
    orderable: Decimal | None = None
    withdrawable: Decimal | None = None
    stale: bool = False

    def __post_init__(self) -> None:
        check_money(self, "deposit", "orderable", "withdrawable")
        check_aware(self, "as_of")


@dataclass(frozen=True, slots=True)
class Position:
    account: AccountRef
    symbol: str
    quantity: int
    avg_price: Decimal
    as_of: datetime
    name: str = ""
    last_price: Decimal | None = None

    def __post_init__(self) -> None:
        check_quantity(self, "quantity")
        check_money(self, "avg_price", "last_price")
        check_aware(self, "as_of")

    @property
    def market_value(self) -> Decimal:
        price = self.last_price if self.last_price is not None else self.avg_price
        return price * self.quantity


@dataclass(frozen=True, slots=True)
class Transaction:
    """One line of an account's history, as the institution reports it."""

    account: AccountRef
    tx_id: str
    occurred_at: datetime
    direction: Direction
    amount: Decimal
    balance_after: Decimal | None = None
    description: str = ""

    def __post_init__(self) -> None:
        check_money(self, "amount", "balance_after")
        check_aware(self, "occurred_at")


@dataclass(frozen=True, slots=True)
class Quote:
    """A last price. `as_of` dates it (its age is now - as_of); `source` says where it came from
    ("stream" for a real-time feed, "" for a request/reply quote)."""

    symbol: str
    price: Decimal
    as_of: datetime
    name: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        check_money(self, "price")
        check_aware(self, "as_of")


# The journal's key column is VARCHAR(200): PostgreSQL refuses longer values, SQLite would store
# them. The bound is checked here so that both engines (and every caller) behave the same.
MAX_IDEMPOTENCY_KEY = 200


def check_idempotency_key(key: str) -> None:
    if not isinstance(key, str) or not key.strip():
        raise ValueError("idempotency key must be a non-empty string")
    if len(key) > MAX_IDEMPOTENCY_KEY:
        raise ValueError(
            f"idempotency key is {len(key)} characters long; at most {MAX_IDEMPOTENCY_KEY} allowed"
        )


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """What we decided to send, recorded before anything is sent.

    `idempotency_key` is derived by the caller from what the order is for (workflow, fire, step,
    symbol) so that deciding twice never produces two intents.
    """

    id: str
    idempotency_key: str
    account: AccountRef
    symbol: str
    side: Side
    quantity: int
    order_type: OrderType
    created_at: datetime
    limit_price: Decimal | None = None
    origin: str = "manual"

    def __post_init__(self) -> None:
        check_quantity(self, "quantity")
        check_money(self, "limit_price")
        check_aware(self, "created_at")
        check_idempotency_key(self.idempotency_key)
        if self.quantity <= 0:
            raise ValueError("OrderIntent.quantity must be positive")
        if self.order_type is OrderType.LIMIT and self.limit_price is None:
            raise ValueError("a limit order needs limit_price")
        if self.order_type is OrderType.MARKET and self.limit_price is not None:
            raise ValueError("a market order has no limit_price")

    @property
    def notional_estimate(self) -> Decimal | None:
        return None if self.limit_price is None else self.limit_price * self.quantity


@dataclass(frozen=True, slots=True)
class OrderReport:
    """The broker's view of one order."""

    order_id: str
    account: AccountRef
    symbol: str
    side: Side
    quantity: int
    state: OrderState
    placed_at: datetime
    order_type: OrderType = OrderType.LIMIT
    limit_price: Decimal | None = None
    filled_quantity: int = 0
    avg_fill_price: Decimal | None = None
    branch: str = ""
    cancelled: bool = False

    def __post_init__(self) -> None:
        check_quantity(self, "quantity", "filled_quantity")
        check_money(self, "limit_price", "avg_fill_price")
        check_aware(self, "placed_at")


@dataclass(frozen=True, slots=True)
class Fill:
    order_id: str
    account: AccountRef
    symbol: str
    side: Side
    quantity: int
    price: Decimal
    filled_at: datetime

    def __post_init__(self) -> None:
        check_quantity(self, "quantity")
        check_money(self, "price")
        check_aware(self, "filled_at")

    @property
    def cash_effect(self) -> Decimal:
        """Signed cash change for the account, before fees."""
        gross = self.price * self.quantity
        return -gross if self.side is Side.BUY else gross


@dataclass(frozen=True, slots=True)
class Transfer:
    """Money moving between institutions (e.g. Samsung CMA → KIS deposit)."""

    id: str
    user_id: str
    from_account: AccountRef
    to_account: AccountRef
    amount: Decimal
    state: TransferState
    requested_at: datetime
    reference: str = ""
    completed_at: datetime | None = None

    def __post_init__(self) -> None:
        check_money(self, "amount")
        check_aware(self, "requested_at", "completed_at")
        if self.amount <= ZERO:
            raise ValueError("Transfer.amount must be positive")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What one source said about one account at one moment; `error` set when the read failed."""

    account: AccountRef
    source: str
    taken_at: datetime
    cash: CashBalance | None = None
    positions: tuple[Position, ...] = ()
    transactions: tuple[Transaction, ...] = ()
    error: str | None = None

    def __post_init__(self) -> None:
        check_aware(self, "taken_at")

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class Break:
    """One disagreement found by reconciliation. `key` makes the same break recognisable later."""

    kind: BreakKind
    account_id: str
    key: str
    detail: str
    expected: Decimal | None = None
    observed: Decimal | None = None

    def __post_init__(self) -> None:
        check_money(self, "expected", "observed")

    @property
    def identity(self) -> str:
        return f"{self.kind}:{self.account_id}:{self.key}"


@dataclass(frozen=True, slots=True)
class ReconciliationRun:
    id: str
    started_at: datetime
    status: str
    finished_at: datetime | None = None
    breaks: tuple[Break, ...] = ()

    def __post_init__(self) -> None:
        check_aware(self, "started_at", "finished_at")


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """An entry of the append-only, hash-chained audit log."""

    at: datetime
    actor: str
    action: str
    subject: str
    detail: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_aware(self, "at")


class OrderEventKind(StrEnum):
    ACCEPTED = "accepted"
    FILLED = "filled"
    MODIFIED = "modified"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """A real-time notice from a broker about one of its orders.

    `order_id` is the broker's number of the order the event concerns (for a cancel or modify,
    the original order). For a fill, `quantity` and `price` are this execution's, not the
    order's totals; `at` is the broker's time of the event.
    """

    kind: OrderEventKind
    account_id: str
    order_id: str
    symbol: str
    side: Side
    quantity: int
    at: datetime
    price: Decimal | None = None

    def __post_init__(self) -> None:
        check_quantity(self, "quantity")
        check_money(self, "price")
        check_aware(self, "at")
