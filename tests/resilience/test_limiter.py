from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence

import pytest
from redis.asyncio import Redis

from adapters.fake import FakeClock
from adapters.http import KeyedRateLimiter, RateSpec
from orchestrator.domain.errors import ConfigError, RateLimited

PER_SECOND_3 = {"acct": (RateSpec(limit=3, per="second"),)}


def limiter(
    fake_time: FakeClock,
    rates: Mapping[str, Sequence[RateSpec]] = PER_SECOND_3,
    max_wait: float = 5.0,
    redis: Redis | None = None,
    key_prefix: str = "ratelimit",
) -> KeyedRateLimiter:
    return KeyedRateLimiter(
        rates,
        max_wait_seconds=max_wait,
        redis=redis,
        key_prefix=key_prefix,
        timer=fake_time,
        sleep=fake_time.sleep,
    )


async def test_waits_for_a_slot_then_admits(fake_time: FakeClock) -> None:
    """A call over the per-second budget waits until the oldest slot frees, then goes through."""
    limit = limiter(fake_time)
    for _ in range(3):
        await limit.acquire("acct:1")

    await limit.acquire("acct:1")

    assert len(fake_time.sleeps) == 1
    assert 1.0 <= fake_time.sleeps[0] <= 1.01
    assert fake_time.monotonic() - 1_000.0 >= 1.0


async def test_every_rate_of_a_key_is_enforced(fake_time: FakeClock) -> None:
    """With 3/s and 5/min, the sixth call in a minute waits for the minute window."""
    rates = {"acct": (RateSpec(limit=3, per="second"), RateSpec(limit=5, per="minute"))}
    limit = limiter(fake_time, rates, max_wait=120.0)
    started = fake_time()

    for _ in range(6):
        await limit.acquire("acct:1")

    assert fake_time() - started >= 60.0
    assert 1.0 <= fake_time.sleeps[0] <= 1.01  # the 4th call waited on the per-second rate


async def test_spread_rate_spaces_calls_instead_of_bursting(fake_time: FakeClock) -> None:
    """With spread=True, 10/s admits one call about every 90 ms rather than 10 at once."""
    limit = limiter(fake_time, {"acct": (RateSpec(limit=10, per="second", spread=True),)})

    for _ in range(3):
        await limit.acquire("acct:1")

    assert len(fake_time.sleeps) == 2
    assert all(0.09 <= wait <= 0.1 for wait in fake_time.sleeps)


async def test_guard_lengthens_every_window(fake_time: FakeClock) -> None:
    """A 50 ms guard makes the fourth call under 3/s wait 1.05 s, not 1 s."""
    limit = KeyedRateLimiter(
        PER_SECOND_3,
        max_wait_seconds=5.0,
        guard_seconds=0.05,
        timer=fake_time,
        sleep=fake_time.sleep,
    )
    for _ in range(4):
        await limit.acquire("acct:1")

    assert 1.05 <= fake_time.sleeps[0] <= 1.06


async def test_raises_rate_limited_when_the_wait_would_exceed_the_bound(
    fake_time: FakeClock,
) -> None:
    """No slot within max_wait: RateLimited with the wait as retry_after, and no sleeping."""
    limit = limiter(fake_time, max_wait=0.5)
    for _ in range(3):
        await limit.acquire("acct:1")

    with pytest.raises(RateLimited) as caught:
        await limit.acquire("acct:1", source="kis")

    assert caught.value.source == "kis"
    assert caught.value.retry_after is not None
    assert caught.value.retry_after > 0.5
    assert fake_time.sleeps == []


async def test_a_waiting_key_never_blocks_another_key(fake_time: FakeClock) -> None:
    """While one account waits for its budget, another account's call is admitted at once."""
    gate = asyncio.Event()

    async def held_sleep(seconds: float) -> None:
        await gate.wait()
        fake_time.advance(seconds)

    limit = KeyedRateLimiter(PER_SECOND_3, max_wait_seconds=5.0, timer=fake_time, sleep=held_sleep)
    for _ in range(3):
        await limit.acquire("acct:A")
    waiting = asyncio.create_task(limit.acquire("acct:A"))
    await asyncio.sleep(0)

    await asyncio.wait_for(limit.acquire("acct:B"), timeout=1.0)

    assert not waiting.done()
    gate.set()
    await waiting


async def test_callers_of_one_key_are_served_in_arrival_order(fake_time: FakeClock) -> None:
    """Queued callers of one key are admitted first come, first served."""
    limit = limiter(fake_time, {"acct": (RateSpec(limit=1, per="second"),)}, max_wait=30.0)
    admitted: list[int] = []

    async def call(n: int) -> None:
        await limit.acquire("acct:1")
        admitted.append(n)

    await asyncio.gather(*(call(n) for n in range(5)))

    assert admitted == [0, 1, 2, 3, 4]


async def test_exact_key_rates_override_the_kind(fake_time: FakeClock) -> None:
    """A rate set for one exact key applies instead of its kind's."""
    rates = {
        "acct": (RateSpec(limit=3, per="second"),),
        "acct:paper": (RateSpec(limit=1, per="second"),),
    }
    limit = limiter(fake_time, rates, max_wait=0.0)
    await limit.acquire("acct:paper")

    with pytest.raises(RateLimited):
        await limit.acquire("acct:paper")


async def test_unknown_key_kind_is_a_config_error(fake_time: FakeClock) -> None:
    """A key whose kind has no configured rates is refused loudly, not let through unlimited."""
    with pytest.raises(ConfigError):
        await limiter(fake_time).acquire("nope:1")


@pytest.mark.redis
async def test_redis_budget_is_shared_by_two_limiters(
    redis_client: Redis, fake_time: FakeClock
) -> None:
    """Two limiter instances (two replicas) on one Redis draw from one budget per key."""
    prefix = f"test-{uuid.uuid4().hex}"
    replica_a = limiter(fake_time, max_wait=0.0, redis=redis_client, key_prefix=prefix)
    replica_b = limiter(fake_time, max_wait=0.0, redis=redis_client, key_prefix=prefix)
    try:
        for replica in (replica_a, replica_b, replica_a):
            await replica.acquire("acct:1")

        with pytest.raises(RateLimited):
            await replica_b.acquire("acct:1")
        await replica_b.acquire("acct:2")
    finally:
        await redis_client.delete(f"{prefix}:acct:1", f"{prefix}:acct:2")


@pytest.mark.redis
async def test_redis_backed_limiter_waits_then_admits(
    redis_client: Redis, fake_time: FakeClock
) -> None:
    """Over Redis too, a call over budget waits for the window and is then admitted."""
    prefix = f"test-{uuid.uuid4().hex}"
    replica_a = limiter(fake_time, redis=redis_client, key_prefix=prefix)
    replica_b = limiter(fake_time, redis=redis_client, key_prefix=prefix)
    try:
        for _ in range(3):
            await replica_a.acquire("acct:1")

        await replica_b.acquire("acct:1")

        assert len(fake_time.sleeps) == 1
        assert 1.0 <= fake_time.sleeps[0] <= 1.01
    finally:
        await redis_client.delete(f"{prefix}:acct:1")


@pytest.mark.redis
async def test_redis_script_is_loaded_once_and_again_after_a_flush(
    redis_client: Redis, fake_time: FakeClock
) -> None:
    """The bucket script is loaded into Redis once per limiter, not once per key; when Redis
    has lost it (restart, SCRIPT FLUSH) it is loaded again and the call still counts."""
    prefix = f"test-{uuid.uuid4().hex}"
    loads: list[str] = []
    original = redis_client.script_load

    async def counted(script: str) -> str:
        loads.append(script)
        return await original(script)

    redis_client.script_load = counted  # type: ignore[method-assign]
    replica = limiter(fake_time, max_wait=0.0, redis=redis_client, key_prefix=prefix)
    keys = [f"acct:{n}" for n in range(5)]
    try:
        for key in keys:
            await replica.acquire(key)
        loaded_for_five = len(loads)
        await redis_client.script_flush()
        await replica.acquire("acct:0")
        await replica.acquire("acct:0")
        with pytest.raises(RateLimited):  # the two calls after the flush were counted
            await replica.acquire("acct:0")

        assert loaded_for_five == 1
        assert len(loads) == 2
    finally:
        redis_client.script_load = original  # type: ignore[method-assign]
        await redis_client.delete(*(f"{prefix}:{key}" for key in keys))


def test_a_window_the_shorter_ones_never_fill_is_dropped() -> None:
    """With the guard, 1,000/min is looser than 18/s (18 x 55 windows of 1.1 s = 990 in a
    minute): it cannot bind, so it is dropped instead of refusing the pair as out of order; a
    longer window that does bind is kept."""
    from adapters.http.settings import pyrate_rates

    second = RateSpec(limit=18, per="second")
    dropped = pyrate_rates([second, RateSpec(limit=1000, per="minute")], guard_seconds=0.1)
    kept = pyrate_rates([second, RateSpec(limit=900, per="minute")], guard_seconds=0.1)

    assert [(r.limit, r.interval) for r in dropped] == [(18, 1100)]
    assert [(r.limit, r.interval) for r in kept] == [(18, 1100), (900, 60100)]
