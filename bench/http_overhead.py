"""Per-call cost of the resilient upstream stack against a bare httpx.AsyncClient.

Both make the same GET to a loopback server running in a subprocess, sequentially, in alternating
rounds so that machine noise hits both alike. The stack runs as in production: limiter (rate set
far above the load), breaker, retry loop, skew check, metrics and structlog (JSON, INFO level, to
/dev/null). Target: median stack / median bare <= 1.2.

    python -m bench.http_overhead [--calls 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import time
from collections.abc import Awaitable, Callable

import httpx
import structlog
from prometheus_client import CollectorRegistry

from adapters.http import RateSpec, ResilienceSettings, build_resilience
from adapters.notify import DedupNotifier, LogNotifier
from bench._loopback import LoopbackServer

ROUND = 250
WARMUP = 300


def _production_logging(sink: object) -> None:
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(file=sink),  # type: ignore[arg-type]
        cache_logger_on_first_use=True,
    )


async def _timed(call: Callable[[], Awaitable[object]], n: int, into: list[float]) -> None:
    clock = time.perf_counter
    for _ in range(n):
        started = clock()
        await call()
        into.append(clock() - started)


async def main(calls: int) -> None:
    server = LoopbackServer()
    settings = ResilienceSettings(rate_limits={"bench": (RateSpec(limit=1_000_000),)})
    resilience = build_resilience(
        settings, notifier=DedupNotifier(LogNotifier()), registry=CollectorRegistry()
    )
    try:
        async with (
            httpx.AsyncClient(base_url=server.base_url) as bare_http,
            httpx.AsyncClient(base_url=server.base_url) as stack_http,
        ):
            client = resilience.client("loopback", stack_http)

            def bare() -> Awaitable[httpx.Response]:
                return bare_http.get("/ping")

            def stack() -> Awaitable[httpx.Response]:
                return client.call(
                    "GET", "/ping", endpoint="ping", translate=_ok, limit_keys=("bench:1",)
                )

            await _timed(bare, WARMUP, [])
            await _timed(stack, WARMUP, [])
            bare_times: list[float] = []
            stack_times: list[float] = []
            while len(bare_times) < calls:
                n = min(ROUND, calls - len(bare_times))
                await _timed(bare, n, bare_times)
                await _timed(stack, n, stack_times)
    finally:
        await resilience.aclose()
        server.stop()

    bare_median = statistics.median(bare_times) * 1e6
    stack_median = statistics.median(stack_times) * 1e6
    print(f"calls each:            {calls}")
    print(f"bare httpx median:     {bare_median:8.1f} us")
    print(f"resilient median:      {stack_median:8.1f} us")
    print(f"overhead per call:     {stack_median - bare_median:8.1f} us")
    print(f"ratio resilient/bare:  {stack_median / bare_median:.3f} (target <= 1.2)")


def _ok(response: httpx.Response) -> None:
    return None


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000)
    arguments = parser.parse_args()
    with open(os.devnull, "w") as devnull:
        _production_logging(devnull)
        asyncio.run(main(arguments.calls))
