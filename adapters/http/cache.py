"""A short TTL cache for display reads (balances, holdings): single flight, stale fallback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

import structlog
from cachetools import LRUCache, TTLCache

from orchestrator.clock import SystemClock
from orchestrator.domain.errors import SourceUnavailable
from orchestrator.ports import Clock

log = structlog.get_logger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Cached(Generic[T]):
    """A value as read upstream at `as_of`; `stale` when the upstream could not be reached now."""

    value: T
    as_of: datetime
    stale: bool = False


class DisplayCache(Generic[T]):
    """Serves display reads from a value at most `ttl_seconds` old; concurrent misses share a load.

    `fresh=True` always asks the upstream (reconciliation does), stores what it got for later
    display reads and lets every error through. A display read whose load fails with
    SourceUnavailable (an open breaker included) gets the last value with `stale=True` and its
    original `as_of`; with no value yet the error goes through. `timer` drives the TTL (monotonic
    seconds), `clock` stamps `as_of`.
    """

    def __init__(
        self,
        *,
        ttl_seconds: float = 45.0,
        maxsize: int = 1024,
        clock: Clock | None = None,
        timer: Callable[[], float] = time.monotonic,
        name: str = "display",
    ) -> None:
        self._fresh: TTLCache[Hashable, Cached[T]] = TTLCache(maxsize, ttl_seconds, timer=timer)
        self._last: LRUCache[Hashable, Cached[T]] = LRUCache(maxsize)
        self._loading: dict[Hashable, asyncio.Future[Cached[T]]] = {}
        self._clock: Clock = clock or SystemClock()
        self._name = name

    async def get(
        self, key: Hashable, loader: Callable[[], Awaitable[T]], *, fresh: bool = False
    ) -> Cached[T]:
        """The cached value for `key`, or the result of `loader()` stored under it."""
        if fresh:
            return await self._load(key, loader)
        hit = self._fresh.get(key)
        if hit is not None:
            return hit
        try:
            return await asyncio.shield(self._shared_load(key, loader))
        except SourceUnavailable as exc:
            last = self._last.get(key)
            if last is None:
                raise
            log.warning(
                "cache.stale_served",
                cache=self._name,
                as_of=last.as_of.isoformat(),
                error=type(exc).__name__,
            )
            return Cached(last.value, last.as_of, stale=True)

    def store(self, key: Hashable, value: T) -> Cached[T]:
        """Keep a value just read fresh elsewhere (a combined read) for later display reads."""
        entry = Cached(value, self._clock.now())
        self._fresh[key] = entry
        self._last[key] = entry
        return entry

    def invalidate(self, key: Hashable) -> None:
        """Forget the fresh value (after an order or transfer changed it); keep it for fallback."""
        self._fresh.pop(key, None)

    def _shared_load(
        self, key: Hashable, loader: Callable[[], Awaitable[T]]
    ) -> asyncio.Future[Cached[T]]:
        task = self._loading.get(key)
        if task is None:
            # A task, not the first caller's coroutine: its cancellation must not fail the others.
            task = self._loading[key] = asyncio.ensure_future(self._load(key, loader))
            task.add_done_callback(lambda done: self._forget(key, done))
        return task

    def _forget(self, key: Hashable, task: asyncio.Future[Cached[T]]) -> None:
        if self._loading.get(key) is task:
            del self._loading[key]
        if not task.cancelled():
            task.exception()  # every waiter may have gone; mark the error seen so asyncio is quiet

    async def _load(self, key: Hashable, loader: Callable[[], Awaitable[T]]) -> Cached[T]:
        return self.store(key, await loader())
