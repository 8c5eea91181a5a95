"""How close the limiter runs to its limit without ever exceeding it, seen from the upstream.

50 concurrent callers send GETs through the resilient client under an 18/s limit on one key for
60 s, to a loopback server (a subprocess) that records each arrival. Reports the achieved rate
over the limit (target >= 0.97) and the most arrivals in any 1-second sliding window (must not
exceed the limit). Calls are spread as configured for `kis_account`; `--burst` admits a whole
window at once, to show why.

    python -m bench.limiter_precision [--seconds 60] [--callers 50] [--limit 18] [--burst]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import logging

import httpx
import structlog
from prometheus_client import CollectorRegistry

from adapters.http import RateSpec, ResilienceSettings, ResilientClient, build_resilience
from bench._loopback import LoopbackServer


def _ok(response: httpx.Response) -> None:
    return None


async def _caller(client: ResilientClient) -> None:
    while True:
        await client.call("GET", "/hit", endpoint="hit", translate=_ok, limit_keys=("bench:1",))


def _busiest_second(arrivals: list[float]) -> int:
    """Most arrivals in any window [t, t + 1 s) starting at an arrival."""
    return max(
        (bisect.bisect_left(arrivals, start + 1.0, lo=i) - i for i, start in enumerate(arrivals)),
        default=0,
    )


async def main(seconds: float, callers: int, limit: int, *, spread: bool) -> None:
    server = LoopbackServer()
    settings = ResilienceSettings(
        rate_limits={"bench": (RateSpec(limit=limit, per="second", spread=spread),)},
        max_wait_seconds=max(30.0, 2 * callers / limit),
    )
    resilience = build_resilience(settings, registry=CollectorRegistry())
    try:
        limits = httpx.Limits(max_connections=callers, max_keepalive_connections=callers)
        async with httpx.AsyncClient(base_url=server.base_url) as warmup:
            # httpx imports its I/O backend on the first request of a process (~20 ms): not ours.
            await warmup.get("/warmup")
        async with httpx.AsyncClient(base_url=server.base_url, limits=limits) as http:
            client = resilience.client("loopback", http)
            tasks = [asyncio.create_task(_caller(client)) for _ in range(callers)]
            await asyncio.sleep(seconds)
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            arrivals = sorted((await http.get("/arrivals")).json())
    finally:
        await resilience.aclose()
        server.stop()

    # Measure over whole seconds from the first arrival, so the last, cut-off window is left out.
    window = float(int(seconds))
    counted = bisect.bisect_left(arrivals, arrivals[0] + window)
    achieved = counted / window
    busiest = _busiest_second(arrivals)
    mode = "spread (as kis_account)" if spread else "bursts"
    print(f"callers / limit / run:    {callers} / {limit}/s / {window:.0f} s, {mode}")
    print(f"arrivals in window:       {counted}")
    print(f"achieved rate:            {achieved:.2f}/s")
    print(f"busiest 1 s window:       {busiest} (limit {limit})")
    print(f"ratio achieved/limit:     {achieved / limit:.3f} (target >= 0.97; busiest <= limit)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--callers", type=int, default=50)
    parser.add_argument("--limit", type=int, default=18)
    parser.add_argument("--burst", action="store_true", help="admit a full window at once")
    arguments = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    asyncio.run(
        main(arguments.seconds, arguments.callers, arguments.limit, spread=not arguments.burst)
    )
