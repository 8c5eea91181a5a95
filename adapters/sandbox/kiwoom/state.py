"""Everything the Kiwoom sandbox knows, in one object (`app.state.kiwoom`).

Apps (app key -> secret and the account the key is bound to), accounts (cash and holdings), the
order book, prices, tokens, the per-key rate windows, the fault rules and the clock. Keeping it
in one state object lets a generic persistence layer save and restore the whole sandbox.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from adapters.sandbox.kiwoom.clock import KiwoomClock
from adapters.sandbox.kiwoom.faults import FaultState

Env = Literal["real", "mock"]
Side = Literal["buy", "sell"]
ThrottleStyle = Literal["return_code", "http429"]
TOKEN_LIFETIME = timedelta(hours=24)  # third-party guides (digest §2.2, Medium)
BASE_URLS: dict[Env, str] = {"real": "https://api.kiwoom.com", "mock": "https://mockapi.kiwoom.com"}


class AppSeed(BaseModel):
    model_config = ConfigDict(extra="forbid")

    appkey: str = Field(min_length=8)
    secretkey: str = Field(min_length=8)
    env: Env
    account: str = Field(pattern=r"^\d{10}$")  # acctNo: 8 digits + 2-digit product classifier


class HoldingSeed(BaseModel):
    model_config = ConfigDict(extra="forbid")

    quantity: int = Field(ge=0)
    avg_price: int = Field(ge=0)


class AccountSeed(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cash: int = Field(ge=0)
    holdings: dict[str, HoldingSeed] = Field(default_factory=dict)


class PriceSeed(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    price: int = Field(gt=0)
    base: int = Field(gt=0)  # previous close: the sign of quote prices is relative to it


class KiwoomSeed(BaseModel):
    """The sandbox's starting world (`seed=` mapping or a YAML file)."""

    model_config = ConfigDict(extra="forbid")

    apps: list[AppSeed]
    accounts: dict[str, AccountSeed]
    prices: dict[str, PriceSeed]
    page_size: int = Field(default=20, ge=1, le=500)
    # Digest §2.5: queries 5/s and orders 5/s per app key (terms of use, Art. 11).
    queries_per_second: int = Field(default=5, ge=1)
    orders_per_second: int = Field(default=5, ge=1)
    throttle_style: ThrottleStyle = "return_code"
    fault_seed: int = 17


DEMO_SEED: dict[str, object] = {
    "apps": [
        {
            "appkey": "KWdemoRealAppKey000000000000000001",
            "secretkey": "KWdemoRealSecretKeyNotARealKiwoomKey0001",
            "env": "real",
            "account": "5012345611",
        },
        {
            "appkey": "KWdemoMockAppKey000000000000000001",
            "secretkey": "KWdemoMockSecretKeyNotARealKiwoomKey0001",
            "env": "mock",
            "account": "8101234511",
        },
    ],
    "accounts": {
        "5012345611": {
            "cash": 20_000_000,
            "holdings": {
                "005930": {"quantity": 20, "avg_price": 68_000},
                "069500": {"quantity": 30, "avg_price": 36_000},
            },
        },
        "8101234511": {"cash": 50_000_000, "holdings": {}},
    },
    "prices": {
        "005930": {"name": "삼성전자", "price": 71_500, "base": 71_000},
        "000660": {"name": "SK하이닉스", "price": 182_000, "base": 185_000},
        "035720": {"name": "카카오", "price": 50_100, "base": 50_100},
        "069500": {"name": "KODEX 200", "price": 35_000, "base": 34_800},
        "005380": {"name": "현대차", "price": 215_000, "base": 214_000},
    },
}


@dataclass
class Holding:
    quantity: int
    cost: int  # total purchase amount in KRW (avg price = cost / quantity)


@dataclass
class Account:
    number: str
    cash: int
    holdings: dict[str, Holding] = field(default_factory=dict)


@dataclass
class Order:
    """One order record: a new order, or a cancel/modify record pointing at its original."""

    ord_no: str
    account: str
    stk_cd: str
    side: Side
    qty: int
    price: int  # 0 for a market order
    trde_tp: str
    placed_at: datetime
    exchange: str = "KRX"
    kind: Literal["new", "cancel", "modify"] = "new"
    orig_ord_no: str = ""
    filled: int = 0
    fill_amount: int = 0
    cancelled: int = 0  # shares of this order cancelled (for a cancel record: shares it cancelled)

    @property
    def open_qty(self) -> int:
        return 0 if self.kind == "cancel" else self.qty - self.filled - self.cancelled

    @property
    def fill_price(self) -> int:
        return self.fill_amount // self.filled if self.filled else 0


@dataclass
class Token:
    value: str
    appkey: str
    env: Env
    expires_at: datetime
    revoked: bool = False


class RateWindows:
    """Sliding one-second windows per (app key, bucket) over sandbox time."""

    def __init__(self) -> None:
        self._seen: defaultdict[tuple[str, str], deque[datetime]] = defaultdict(deque)
        self.refused = 0

    def admit(self, key: tuple[str, str], limit: int, now: datetime) -> bool:
        seen = self._seen[key]
        while seen and not (now - timedelta(seconds=1) < seen[0] <= now):
            seen.popleft()
        if len(seen) >= limit:
            self.refused += 1
            return False
        seen.append(now)
        return True


def token_signature(env: Env, body: str) -> str:
    # Tokens carry an environment signature, so a host recognises the other host's tokens
    # (8031) without sharing state, as real and mock Kiwoom do.
    return hashlib.sha256(f"kiwoom-sandbox|{env}|{body}".encode()).hexdigest()[:16]


class KiwoomState:
    """The sandbox world for one flavour (real or mock)."""

    def __init__(self, env: Env, seed: KiwoomSeed, clock: KiwoomClock) -> None:
        self.env: Env = env
        self.seed = seed
        self.clock = clock
        self.apps = {a.appkey: a for a in seed.apps}
        self.accounts = {
            number: Account(
                number,
                a.cash,
                {
                    code: Holding(h.quantity, h.quantity * h.avg_price)
                    for code, h in a.holdings.items()
                    if h.quantity
                },
            )
            for number, a in seed.accounts.items()
        }
        self.names = {code: p.name for code, p in seed.prices.items()}
        self.prices = {code: p.price for code, p in seed.prices.items()}
        self.bases = {code: p.base for code, p in seed.prices.items()}
        self.orders: list[Order] = []
        self.tokens: dict[str, Token] = {}
        self.windows = RateWindows()
        self.faults = FaultState(seed.fault_seed)
        self.page_size = seed.page_size
        self.queries_per_second = seed.queries_per_second
        self.orders_per_second = seed.orders_per_second
        self.throttle_style: ThrottleStyle = seed.throttle_style
        self.served = 0
        self._next_ord_no = 0

    def now(self) -> datetime:
        return self.clock.now()

    def new_ord_no(self) -> str:
        self._next_ord_no += 1
        return f"{self._next_ord_no:07d}"

    def issue_token(self, appkey: str) -> Token:
        body = secrets.token_urlsafe(48)
        value = body + token_signature(self.env, body)
        token = Token(value, appkey, self.env, self.now() + TOKEN_LIFETIME)
        self.tokens[value] = token
        return token

    def is_foreign_token(self, value: str) -> bool:
        other: Env = "mock" if self.env == "real" else "real"
        body, sig = value[:-16], value[-16:]
        return len(value) > 16 and token_signature(other, body) == sig

    def order(self, ord_no: str, account: str) -> Order | None:
        for order in self.orders:
            if order.ord_no == ord_no and order.account == account and order.kind != "cancel":
                return order
        return None

    def reserved_cash(self, account: str) -> int:
        total = 0
        for o in self.orders:
            if o.account == account and o.side == "buy" and o.open_qty > 0:
                total += o.open_qty * (o.price or self.prices.get(o.stk_cd, 0))
        return total

    def reserved_shares(self, account: str, code: str) -> int:
        return sum(
            o.open_qty
            for o in self.orders
            if o.account == account and o.side == "sell" and o.stk_cd == code
        )

    def match(self) -> None:
        """Fill every resting order its limit now allows, at the current price."""
        for order in self.orders:
            if order.open_qty <= 0:
                continue
            price = self.prices.get(order.stk_cd)
            if price is None:
                continue
            if order.price == 0 or (
                order.price >= price if order.side == "buy" else order.price <= price
            ):
                self.fill(order, order.open_qty, price)

    def fill(self, order: Order, qty: int, price: int) -> None:
        account = self.accounts[order.account]
        amount = qty * price
        holding = account.holdings.get(order.stk_cd)
        if order.side == "buy":
            account.cash -= amount
            if holding is None:
                account.holdings[order.stk_cd] = Holding(qty, amount)
            else:
                holding.quantity += qty
                holding.cost += amount
        else:
            account.cash += amount
            if holding is not None:
                avg = holding.cost // holding.quantity if holding.quantity else 0
                holding.quantity -= qty
                holding.cost = max(0, holding.cost - avg * qty)
                if holding.quantity <= 0:
                    del account.holdings[order.stk_cd]
        order.filled += qty
        order.fill_amount += amount

    def expire_tokens(self) -> int:
        for token in self.tokens.values():
            token.expires_at = self.now() - timedelta(seconds=1)
        return len(self.tokens)
