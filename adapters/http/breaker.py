"""Circuit breakers per upstream (or endpoint group), built on purgatory behind a small interface.

purgatory counts every exception it sees and treats everything else as health. Here only upstream
failures count (unavailable, outcome unknown); business answers count as health, since the
upstream did answer; throttling and cancellation count as neither.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from types import TracebackType

import structlog
from purgatory import AsyncCircuitBreakerFactory, AsyncInMemoryUnitOfWork, AsyncRedisUnitOfWork
from purgatory.domain.messages.events import ContextChanged
from purgatory.domain.model import Context, OpenedState
from purgatory.service._async.circuitbreaker import AsyncCircuitBreaker
from purgatory.service._async.repository import AsyncRedisRepository

from orchestrator.domain.errors import OutcomeUnknown, RateLimited, SourceUnavailable

log = structlog.get_logger(__name__)

# purgatory's state names, as the status API shows them.
_STATE_NAMES = {"closed": "closed", "opened": "open", "half-opened": "half_open"}


class CircuitOpen(SourceUnavailable):
    """The breaker for this upstream is open: the call was not sent. Not worth retrying now."""


def _is_neutral(error: BaseException) -> bool:
    # Throttling (ours or theirs) and cancellation say nothing about the upstream's health.
    return isinstance(error, RateLimited) or not isinstance(error, Exception)


def _is_failure(error: BaseException) -> bool:
    return isinstance(error, SourceUnavailable | OutcomeUnknown)


class CircuitBreakers:
    """Opens a circuit after `failure_threshold` consecutive upstream failures.

    After `recovery_seconds` calls are let through again as probes (half-open; purgatory does not
    limit them to one): a success closes the circuit, a failure opens it again. With `redis_url`,
    replicas share each circuit's state; a replica sees another's change within
    `refresh_seconds`. `on_open(circuit)` is called when this process opens one.
    """

    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        recovery_seconds: float = 30.0,
        redis_url: str | None = None,
        key_prefix: str = "orchestrator",
        on_open: Callable[[str], None] | None = None,
        refresh_seconds: float = 1.0,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        uow = AsyncRedisUnitOfWork(redis_url) if redis_url else AsyncInMemoryUnitOfWork()
        self._factory = AsyncCircuitBreakerFactory(
            default_threshold=failure_threshold, default_ttl=recovery_seconds, uow=uow
        )
        self._factory.add_listener(self._on_event)
        self._ttl = recovery_seconds
        self._prefix = f"{key_prefix}:"
        self._on_open = on_open
        self._redis = redis_url is not None
        self._ready = not self._redis
        self._init_lock = asyncio.Lock()
        # Last state this process saw per circuit: (purgatory state, opened_at).
        self._seen: dict[str, tuple[str, float | None]] = {}
        # On Redis, each circuit's state is read at most once per `refresh_seconds` (two GETs a
        # read); meanwhile this process's calls share the state read last, as they share it
        # in memory. What this process records (failures, openings) still reaches Redis at
        # once; what other replicas record is seen here within `refresh_seconds`.
        self._refresh = refresh_seconds
        self._timer = timer
        self._read: dict[str, tuple[Context, float]] = {}

    def guard(self, circuit: str, *, source: str) -> _Guard:
        """Async context manager around one call: raises CircuitOpen on entry while open."""
        return _Guard(self, circuit, source)

    def states(self) -> dict[str, str]:
        """State per circuit as last seen by this process: closed, open or half_open."""
        now = time.time()
        out = {}
        for circuit, (state, opened_at) in self._seen.items():
            if state == "opened" and opened_at is not None and now > opened_at + self._ttl:
                state = "half-opened"  # the next call will be let through as a probe
            out[circuit] = _STATE_NAMES.get(state, state)
        return out

    async def aclose(self) -> None:
        """Close the Redis connection, if any."""
        repository = self._factory.uow.contexts
        if isinstance(repository, AsyncRedisRepository):
            await repository.redis.aclose()

    async def _breaker(self, circuit: str) -> AsyncCircuitBreaker:
        if not self._ready:
            async with self._init_lock:
                if not self._ready:
                    await self._factory.initialize()
                    self._ready = True
        if not self._redis:
            return await self._factory.get_breaker(self._prefix + circuit)
        now = self._timer()
        read = self._read.get(circuit)
        if read is not None and now < read[1]:
            return AsyncCircuitBreaker(read[0], self._factory.uow, self._factory.messagebus)
        breaker = await self._factory.get_breaker(self._prefix + circuit)
        self._read[circuit] = (breaker.context, now + self._refresh)
        return breaker

    def _note(self, circuit: str, context: Context) -> None:
        self._seen[circuit] = (context.state, context.opened_at)

    def _on_event(self, name: str, event_name: str, event: object) -> None:
        if event_name != "state_changed" or not isinstance(event, ContextChanged):
            return
        circuit = name.removeprefix(self._prefix)
        self._seen[circuit] = (event.state, event.opened_at)
        if event.state == "opened":
            log.warning("upstream.breaker_opened", circuit=circuit, recovery_seconds=self._ttl)
            if self._on_open is not None:
                self._on_open(circuit)
        elif event.state == "closed":
            log.info("upstream.breaker_closed", circuit=circuit)


class _Guard:
    __slots__ = ("_breaker", "_breakers", "_circuit", "_source")

    def __init__(self, breakers: CircuitBreakers, circuit: str, source: str) -> None:
        self._breakers = breakers
        self._circuit = circuit
        self._source = source
        self._breaker: AsyncCircuitBreaker | None = None

    async def __aenter__(self) -> None:
        breaker = self._breaker = await self._breakers._breaker(self._circuit)
        context = breaker.context
        # What this process sees at entry; transitions made here arrive through the listener.
        self._breakers._note(self._circuit, context)
        try:
            await breaker.__aenter__()
        except OpenedState as exc:
            remaining = max(0.0, (context.opened_at or 0.0) + context.ttl - time.time())
            raise CircuitOpen(
                self._source, f"circuit {self._circuit} is open", retry_after=remaining
            ) from exc

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        breaker = self._breaker
        if breaker is None or (exc is not None and _is_neutral(exc)):
            return
        if exc is not None and _is_failure(exc):
            await breaker.__aexit__(exc_type, exc, tb)
        else:
            await breaker.__aexit__(None, None, None)
