"""The state of one sandbox environment, reachable as `app.state.broker` (spec §1: real and
paper are separate hosts with separate keys and accounts).

Tests and demos read it directly: `accounts` (by "CANO-ACNT_PRDT_CD"), `book.orders`,
`clock`, `prices`, `tokens`, `faults`. Every business request first calls `sync()`, which
settles due trades and lets the matching engine catch up with the sandbox clock.
"""

from __future__ import annotations

from datetime import datetime

from adapters.sandbox.kis import errors
from adapters.sandbox.kis.auth import TokenStore
from adapters.sandbox.kis.clock import KST, SandboxClock
from adapters.sandbox.kis.faults import FaultState
from adapters.sandbox.kis.hours import TradingCalendar
from adapters.sandbox.kis.ledger import SELL, Account, Fees, Position
from adapters.sandbox.kis.matching import Matcher
from adapters.sandbox.kis.notices import NoticeLog
from adapters.sandbox.kis.orders import Order, OrderBook
from adapters.sandbox.kis.prices import PriceBook
from adapters.sandbox.kis.ratelimit import RateLimiter
from adapters.sandbox.kis.realtime import RealtimeState
from adapters.sandbox.kis.seed import AppSeed, Env, Seed

BASE_URLS: dict[Env, str] = {
    "real": "https://openapi.koreainvestment.com:9443",
    "paper": "https://openapivts.koreainvestment.com:29443",
}
# Rows per page (spec §4.3, §4.4, §4.6); psbl-rvsecncl is real-only.
BALANCE_PAGE: dict[Env, int] = {"real": 50, "paper": 20}
DAILY_CCLD_PAGE: dict[Env, int] = {"real": 100, "paper": 15}
OPEN_ORDERS_PAGE = 50


class Broker:
    """Accounts, orders, tokens, limits and faults of one environment."""

    def __init__(self, env: Env, seed: Seed, clock: SandboxClock) -> None:
        self.env = env
        self.seed = seed
        self.clock = clock
        self.calendar = TradingCalendar(seed.closures, use_krx_holidays=seed.use_krx_holidays)
        self.prices = PriceBook(seed.seed, seed.symbols, self.calendar)
        self.fees = Fees.from_seed(seed.fees)
        env_seed = seed.env(env)
        self.apps: dict[str, AppSeed] = {app.appkey: app for app in env_seed.apps}
        other: Env = "paper" if env == "real" else "real"
        self.foreign_appkeys = frozenset(app.appkey for app in seed.env(other).apps)
        self.accounts: dict[str, Account] = {}
        for account_seed in env_seed.accounts:
            account = Account(account_seed.cano, account_seed.acnt_prdt_cd, int(account_seed.cash))
            for holding in account_seed.holdings:
                cost = int(holding.avg_price * holding.qty)
                account.positions[holding.pdno] = Position(holding.pdno, holding.qty, cost)
            self.accounts[account.number] = account
        self.book = OrderBook(env_seed.first_order_number, seed.branch(env))
        self.notices = NoticeLog(names={s.pdno: s.name for s in seed.symbols})
        self.matcher = Matcher(env, self.prices, self.calendar, self.fees, self.notices)
        self.realtime = RealtimeState()
        self.tokens = TokenStore(seed.seed, env)
        self.limiter = RateLimiter(seed.rate_limit(env))
        self.faults = FaultState(seed.seed)
        self.served = 0  # numbers the generated gt_uid of each reply
        if seed.faults is not None:
            self.faults.apply(seed.faults)

    def hts_accounts(self, hts_id: str) -> frozenset[str]:
        """The accounts whose notices a subscription to `hts_id` delivers (spec §7.2: all
        accounts linked to the ID)."""
        return frozenset(
            number
            for app in self.apps.values()
            if app.resolved_hts_id == hts_id
            for number in app.accounts
        )

    def now(self) -> datetime:
        return self.clock.now().astimezone(KST)

    def sync(self) -> None:
        """Settle what is due and run the matching engine up to the sandbox time."""
        now = self.now()
        for account in self.accounts.values():
            account.settle(now.date())
        self.matcher.catch_up(self.book, self.accounts.__getitem__, now, self.clock.session)

    def account(self, appkey: str, cano: str, prdt: str) -> Account:
        """The account an app key may use, or the OPSQ account error."""
        if len(cano) != 8 or not cano.isdigit() or len(prdt) != 2 or not prdt.isdigit():
            raise errors.invalid_input("ACNO")
        number = f"{cano}-{prdt}"
        app = self.apps.get(appkey)
        if number not in self.accounts or app is None or number not in app.accounts:
            raise errors.unknown_account()
        return self.accounts[number]

    def live_orders(self, account: Account) -> list[Order]:
        return [o for o in self.book.of_account(account.number) if o.live]

    def reserved_cash(self, account: Account) -> int:
        """Cash held back for open buy orders, commission included."""
        return sum(
            self.fees.buy_cost(o.remaining * o.reserve_price)
            for o in self.live_orders(account)
            if o.is_buy
        )

    def d1_cash(self, account: Account) -> int:
        next_day = self.calendar.next_trading_day(self.now().date())
        return account.deposit + account.pending_cash(next_day)

    def d2_cash(self, account: Account) -> int:
        """prvs_rcdl_excc_amt: the deposit once everything traded so far has settled."""
        return account.deposit + sum(f.cash_effect for f in account.unsettled)

    def orderable_cash(self, account: Account) -> int:
        """ord_psbl_cash: D+2 cash (sale proceeds included) less what open buys hold back."""
        return max(0, self.d2_cash(account) - self.reserved_cash(account))

    def sellable(self, account: Account, pdno: str) -> int:
        """ord_psbl_qty: shares held less shares already offered in open sell orders."""
        position = account.positions.get(pdno)
        held = position.qty if position else 0
        offered = sum(
            o.remaining for o in self.live_orders(account) if o.pdno == pdno and o.side == SELL
        )
        return max(0, held - offered)
