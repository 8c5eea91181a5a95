"""Deterministic price paths: a pure function of (seed, symbol, sandbox time), on the tick grid.

Each calendar day's log-price is a Brownian bridge (Karhunen–Loève series, truncated) between
two seeded daily anchors around the symbol's base price, plus a ±1-tick jitter per 10-second
step. Being a function of time rather than of request history, the same seed replays the same
market whatever the clients do. The walk itself is float arithmetic (a model, not money);
every price it hands out is an int on the KRX tick grid, inside the ±30 % daily limits
(spec §7.3, §7.4). Outside the session the last price stays put, as on a closed exchange.
"""

from __future__ import annotations

import hashlib
import math
import operator
import random
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from adapters.sandbox.kis.clock import KST, SessionMode
from adapters.sandbox.kis.hours import REGULAR_CLOSE, REGULAR_OPEN, TradingCalendar
from adapters.sandbox.kis.seed import SymbolSeed
from adapters.sandbox.kis.ticks import nearest_tick, price_limits, tick_down, tick_up

STEP_SECONDS = 10
_DAY_SECONDS = 86_400
_STEPS_PER_DAY = _DAY_SECONDS // STEP_SECONDS
_TERMS = 40
_CACHE_LIMIT = 4_096


def step_of(at: datetime) -> int:
    """The index of the 10-second step containing `at` (steps are aligned to the epoch)."""
    return math.floor(at.timestamp()) // STEP_SECONDS


def step_start(step: int) -> datetime:
    return datetime.fromtimestamp(step * STEP_SECONDS, KST)


@dataclass(frozen=True, slots=True)
class DayStats:
    """What a quote needs about the trading day so far."""

    day: date
    prev_close: int
    open: int
    high: int
    low: int
    last: int
    volume: int
    turnover: int
    upper: int
    lower: int


class PriceBook:
    """Prices of every seeded symbol at any sandbox time, plus per-step tradable volume."""

    def __init__(self, seed: int, symbols: Sequence[SymbolSeed], calendar: TradingCalendar):
        self.seed = seed
        self.symbols = {symbol.pdno: symbol for symbol in symbols}
        self.calendar = calendar
        self._bridges: dict[tuple[str, date], tuple[float, float, tuple[float, ...]]] = {}
        self._basis: dict[int, array[float]] = {}

    # -- the raw path -------------------------------------------------------------------------

    def _anchor(self, pdno: str, day: date) -> float:
        symbol = self.symbols[pdno]
        rng = random.Random(f"{self.seed}|{pdno}|anchor|{day.isoformat()}")
        return float(symbol.daily_jitter) * (2.0 * rng.random() - 1.0)

    def _bridge(self, pdno: str, day: date) -> tuple[float, float, tuple[float, ...]]:
        key = (pdno, day)
        cached = self._bridges.get(key)
        if cached is None:
            if len(self._bridges) >= _CACHE_LIMIT:
                self._bridges.clear()
            rng = random.Random(f"{self.seed}|{pdno}|bridge|{day.isoformat()}")
            sigma = float(self.symbols[pdno].volatility)
            weights = tuple(
                sigma * rng.gauss(0.0, 1.0) * math.sqrt(2.0) / (k * math.pi)
                for k in range(1, _TERMS + 1)
            )
            cached = (self._anchor(pdno, day), self._anchor(pdno, day + timedelta(1)), weights)
            self._bridges[key] = cached
        return cached

    def _basis_row(self, index: int) -> array[float]:
        row = self._basis.get(index)
        if row is None:
            s = index / _STEPS_PER_DAY
            row = array("d", (math.sin(k * math.pi * s) for k in range(1, _TERMS + 1)))
            self._basis[index] = row
        return row

    def _noise(self, pdno: str, step: int) -> tuple[int, float]:
        digest = hashlib.blake2b(f"{self.seed}|{pdno}|{step}".encode(), digest_size=8).digest()
        value = int.from_bytes(digest, "big")
        jitter = (-1, 0, 0, 0, 1)[value % 5]
        return jitter, (value >> 8) / float(1 << 56)

    def raw(self, pdno: str, at: datetime) -> int:
        """The path value at the start of the step containing `at`, ignoring session hours."""
        symbol = self.symbols[pdno]
        step = step_of(at)
        start = step_start(step)
        day = start.date()
        index = (start.hour * 3600 + start.minute * 60 + start.second) // STEP_SECONDS
        a0, a1, weights = self._bridge(pdno, day)
        s = index / _STEPS_PER_DAY
        wiggle = math.fsum(map(operator.mul, weights, self._basis_row(index)))
        log_move = (1.0 - s) * a0 + s * a1 + wiggle
        price = nearest_tick(max(1, round(symbol.base_price * math.exp(log_move))), symbol.kind)
        jitter, _ = self._noise(pdno, step)
        if jitter > 0:
            return tick_up(price, symbol.kind)
        return tick_down(price, symbol.kind) if jitter < 0 else price

    # -- what the market shows ----------------------------------------------------------------

    def close(self, pdno: str, day: date) -> int:
        return self.raw(pdno, datetime.combine(day, REGULAR_CLOSE, tzinfo=KST))

    def prev_close(self, pdno: str, day: date) -> int:
        """The close of the last trading day before `day` (stck_sdpr, the limit base)."""
        return self.close(pdno, self.calendar.previous_trading_day(day))

    def quote_day(self, at: datetime, mode: SessionMode) -> date:
        """The trading day a quote at `at` describes (the last one on a closed day)."""
        today = at.astimezone(KST).date()
        return today if mode == "open" else self.calendar.last_trading_day_through(today)

    def limits(self, pdno: str, day: date) -> tuple[int, int]:
        return price_limits(self.prev_close(pdno, day), self.symbols[pdno].kind)

    def price(self, pdno: str, at: datetime, mode: SessionMode = "auto") -> int:
        """The last traded price a client sees at `at` (stck_prpr, prpr, now_pric)."""
        day = self.quote_day(at, mode)
        local = at.astimezone(KST)
        if mode == "open":
            value = self.raw(pdno, at)
        elif local.date() != day or local.time() >= REGULAR_CLOSE:
            value = self.close(pdno, day)
        elif local.time() < REGULAR_OPEN:
            value = self.prev_close(pdno, day)
        else:
            value = self.raw(pdno, at)
        upper, lower = self.limits(pdno, day)
        return min(max(value, lower), upper)

    def liquidity(self, pdno: str, step: int) -> int:
        """Shares that can trade at one step; orders share it first come, first served."""
        _, u = self._noise(pdno, step)
        return max(1, int(self.symbols[pdno].liquidity * (0.25 + 1.5 * u)))

    def day_stats(self, pdno: str, at: datetime, mode: SessionMode = "auto") -> DayStats:
        day = self.quote_day(at, mode)
        upper, lower = self.limits(pdno, day)
        last = self.price(pdno, at, mode)
        session_from = time(0, 0) if mode == "open" else REGULAR_OPEN
        first = step_of(datetime.combine(day, session_from, tzinfo=KST))
        end = at if mode == "open" else min(at, datetime.combine(day, REGULAR_CLOSE, tzinfo=KST))
        high = low = last
        opening = last
        volume = turnover = 0
        for step in range(first, step_of(end) if end > step_start(first) else first):
            price = min(max(self.raw(pdno, step_start(step)), lower), upper)
            if step == first:
                opening = price
            high, low = max(high, price), min(low, price)
            shares = self.liquidity(pdno, step)
            volume += shares
            turnover += shares * price
        return DayStats(
            day,
            self.prev_close(pdno, day),
            opening,
            high,
            low,
            last,
            volume,
            turnover,
            upper,
            lower,
        )
