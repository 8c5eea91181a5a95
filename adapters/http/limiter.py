"""Per-key rate limiting that waits for a slot, in memory or shared through Redis.

pyrate-limiter's buckets do the counting (every rate of a key is checked and recorded in one
step; in Redis atomically in one Lua script). Its `Limiter` is not used: it holds one lock for all
keys while a caller waits, reads `time.monotonic` and `asyncio.sleep` directly (no fake clock in
tests) and starts a leak thread. Here each key has its own bucket and its own FIFO queue, so a
key that is out of budget never delays another, and time and sleep are injected.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from inspect import isawaitable
from typing import TYPE_CHECKING

from pyrate_limiter import AbstractBucket, InMemoryBucket, Rate, RateItem, RedisBucket
from pyrate_limiter.buckets.redis_bucket import LuaScript
from redis.exceptions import NoScriptError

from adapters.http.settings import RateSpec, pyrate_rates
from orchestrator.domain.errors import ConfigError, RateLimited

if TYPE_CHECKING:
    from redis.asyncio import Redis

Sleep = Callable[[float], Awaitable[None]]


@dataclass(slots=True)
class _Key:
    rates: list[Rate]
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    bucket: AbstractBucket | None = None
    leak_due: float = 0.0

    @property
    def longest_seconds(self) -> float:
        """Entries older than the longest window can never block again."""
        return max(rate.interval for rate in self.rates) / 1000


class KeyedRateLimiter:
    """Admits a call for a key once every rate configured for it has room, waiting up to a bound.

    Keys look like "<kind>:<id>" (`kis_account:12345678`); rates are found by exact key, then by
    kind. Windows are lengthened by `guard_seconds` (see `pyrate_rates`). With `redis`, budgets
    are shared by every process using the same Redis and `key_prefix`; timestamps then come from
    the wall clock, so keep replicas NTP-synced.
    """

    def __init__(
        self,
        rates: Mapping[str, Sequence[RateSpec]],
        *,
        max_wait_seconds: float,
        guard_seconds: float = 0.0,
        redis: Redis | None = None,
        key_prefix: str = "ratelimit",
        timer: Callable[[], float] | None = None,
        sleep: Sleep = asyncio.sleep,
        margin_seconds: float = 0.002,
    ) -> None:
        self._rates = {
            name: pyrate_rates(specs, guard_seconds=guard_seconds) for name, specs in rates.items()
        }
        self._max_wait = max_wait_seconds
        self._redis = redis
        self._prefix = key_prefix
        self._timer = timer or (time.time if redis is not None else time.monotonic)
        self._sleep = sleep
        # Waking a hair after the slot frees keeps the re-check from landing on the window edge.
        self._margin = margin_seconds
        self._keys: dict[str, _Key] = {}
        # The bucket script is loaded into Redis once per limiter, not once per key (a round
        # trip each: two per investor in a fire), and again if Redis lost it.
        self._script: str | None = None

    async def acquire(self, key: str, *, source: str = "rate-limiter") -> None:
        """Return once a call for `key` is admitted; raise RateLimited if that takes too long.

        Callers for one key are served in arrival order. `source` names the upstream in the error.
        Raises ConfigError for a key with no configured rates.
        """
        state = self._keys.get(key) or self._add_key(key)
        deadline = self._timer() + self._max_wait
        if state.lock.locked():
            # Time in the queue counts against the bound too. It is measured on the event loop's
            # clock, which a fake timer does not move; fakes never hold the lock for long.
            try:
                async with asyncio.timeout(self._max_wait):
                    await state.lock.acquire()
            except TimeoutError:
                raise RateLimited(
                    source, f"queue for {key} longer than {self._max_wait} s"
                ) from None
        else:
            await state.lock.acquire()
        try:
            bucket = state.bucket or await self._open_bucket(key, state)
            await self._admit(key, state, bucket, deadline, source)
        finally:
            state.lock.release()

    async def _admit(
        self, key: str, state: _Key, bucket: AbstractBucket, deadline: float, source: str
    ) -> None:
        while True:
            now = self._timer()
            item = RateItem(key, int(now * 1000))
            admitted = await self._put(bucket, item)
            if admitted:
                if now >= state.leak_due:
                    await self._leak(state, bucket, item.timestamp)
                return
            # Read straight after put(): the bucket remembers the wait of its latest refusal.
            waited = bucket.waiting(item)
            wait_ms = await waited if isawaitable(waited) else waited
            wait = max(wait_ms, 0) / 1000 + self._margin
            if wait_ms < 0 or now + wait > deadline:
                raise RateLimited(
                    source, f"no slot for {key} within {self._max_wait} s", retry_after=wait
                )
            await self._sleep(wait)

    async def _put(self, bucket: AbstractBucket, item: RateItem) -> bool:
        try:
            return await _admitted(bucket, item)
        except NoScriptError:
            # Redis restarted or its scripts were flushed: load the script again (same hash).
            if self._redis is None or not isinstance(bucket, RedisBucket):
                raise
            bucket.script_hash = self._script = await self._redis.script_load(LuaScript.PUT_ITEM)
            return await _admitted(bucket, item)

    def _add_key(self, key: str) -> _Key:
        rates = self._rates.get(key) or self._rates.get(key.partition(":")[0])
        if not rates:
            raise ConfigError(f"rate_limits: no rates configured for {key!r} or its kind")
        state = self._keys[key] = _Key(rates=rates)
        return state

    async def _open_bucket(self, key: str, state: _Key) -> AbstractBucket:
        if self._redis is None:
            bucket: AbstractBucket = InMemoryBucket(state.rates)
        else:
            if self._script is None:
                self._script = await self._redis.script_load(LuaScript.PUT_ITEM)
            bucket = RedisBucket(state.rates, self._redis, f"{self._prefix}:{key}", self._script)
        # A new bucket has nothing of ours to drop yet: its first leak is one window away.
        state.leak_due = self._timer() + state.longest_seconds
        state.bucket = bucket
        return bucket

    async def _leak(self, state: _Key, bucket: AbstractBucket, now_ms: int) -> None:
        # Entries older than the longest window can never block again; drop them about once per
        # window instead of on every call.
        state.leak_due = now_ms / 1000 + state.longest_seconds
        removed = bucket.leak(now_ms)
        if isawaitable(removed):
            await removed


async def _admitted(bucket: AbstractBucket, item: RateItem) -> bool:
    """Put the item in the bucket (awaited on Redis); whether it was admitted."""
    admitted = bucket.put(item)
    return bool(await admitted if isawaitable(admitted) else admitted)
