"""The Kiwoom adapter stack on the loopback Kiwoom sandbox: per-call cost and sustained budget.

1. Per-call cost: `KiwoomMarketData.quote()` (token cache, limiter, breaker, retry loop, envelope
   translation, parsing, mapping, structlog at INFO to /dev/null) against a bare httpx POST of the
   same TR with the same headers, sequentially, in alternating rounds; the sandbox's and the
   adapter's budgets are set far above the load. Target: median stack / median bare <= 1.2.
2. Sustained calls: 8 concurrent callers for `--seconds` against a sandbox enforcing the digest's
   5 queries/s per app key (return_code 5 [1700] when exceeded), through the adapter configured
   with the same 5/s. Reports calls/s against the budget and the throttle replies received
   (target: 0).

    python -m bench.kiwoom_stack [--calls 3000] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import yaml
from prometheus_client import CollectorRegistry

from adapters.fake import FakeTokenVault
from adapters.http import RateSpec, ResilienceSettings, build_resilience
from adapters.kiwoom import KiwoomSettings, build_kiwoom, kiwoom_http_client
from adapters.notify import DedupNotifier, LogNotifier
from adapters.sandbox.kiwoom import DEMO_SEED
from bench.http_overhead import _production_logging, _timed

ROUND = 250
WARMUP = 300
APP = next(a for a in DEMO_SEED["apps"] if a["env"] == "real")  # type: ignore[attr-defined]


class Sandbox:
    """`orchestrator sandbox kiwoom` in a subprocess on a free loopback port."""

    def __init__(self, queries_per_second: int) -> None:
        seed = {**DEMO_SEED, "queries_per_second": queries_per_second}
        self._seed = Path(tempfile.mkstemp(suffix=".yaml")[1])
        self._seed.write_text(yaml.safe_dump(seed, allow_unicode=True), encoding="utf-8")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "orchestrator",
                "sandbox",
                "kiwoom",
                "--port",
                str(port),
                "--seed",
                str(self._seed),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{self.base_url}/_sandbox/state", timeout=1).raise_for_status()
                return
            except httpx.TransportError:
                if time.monotonic() > deadline or self._process.poll() is not None:
                    raise RuntimeError("the Kiwoom sandbox did not start") from None
                time.sleep(0.05)

    def state(self) -> dict[str, Any]:
        reply: dict[str, Any] = httpx.get(f"{self.base_url}/_sandbox/state", timeout=5).json()
        return reply

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=10)
        self._seed.unlink(missing_ok=True)


def _settings(base_url: str, per_second: int) -> KiwoomSettings:
    return KiwoomSettings.model_validate(
        {
            "env": "real",
            "base_url": base_url,
            "app_key": f"literal:{APP['appkey']}",
            "secret_key": f"literal:{APP['secretkey']}",
            "queries_per_second": per_second,
        }
    )


async def overhead(calls: int) -> None:
    sandbox = Sandbox(queries_per_second=1_000_000)
    settings = _settings(sandbox.base_url, 1_000_000)
    # Budgets far above the load (no spacing): the limiter's bookkeeping is measured, not a wait.
    limits = {settings.query_limit_key: (RateSpec(limit=1_000_000),)}
    resilience = build_resilience(
        ResilienceSettings(rate_limits=limits),
        notifier=DedupNotifier(LogNotifier()),
        registry=CollectorRegistry(),
    )
    try:
        async with (
            httpx.AsyncClient() as bare_http,
            kiwoom_http_client(settings) as stack_http,
        ):
            kiwoom = build_kiwoom(settings, resilience, FakeTokenVault(), stack_http)
            token = await kiwoom.tokens.current()
            url = f"{settings.host}/api/dostk/stkinfo"
            headers = {
                "content-type": "application/json;charset=UTF-8",
                "api-id": "ka10001",
                "authorization": f"Bearer {token}",
            }
            body = json.dumps({"stk_cd": "005930"}).encode()

            def bare() -> Awaitable[httpx.Response]:
                return bare_http.post(url, content=body, headers=headers)

            def stack() -> Awaitable[object]:
                return kiwoom.market.quote("005930")

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
        sandbox.stop()
    bare_median = statistics.median(bare_times) * 1e6
    stack_median = statistics.median(stack_times) * 1e6
    print("-- per-call cost (ka10001 quote, loopback Kiwoom sandbox)")
    print(f"calls each:            {calls}")
    print(f"bare httpx median:     {bare_median:8.1f} us")
    print(f"adapter stack median:  {stack_median:8.1f} us")
    print(f"overhead per call:     {stack_median - bare_median:8.1f} us")
    print(f"ratio stack/bare:      {stack_median / bare_median:.3f} (target <= 1.2)")


async def sustained(seconds: float, budget: int = 5, callers: int = 8) -> None:
    sandbox = Sandbox(queries_per_second=budget)
    settings = _settings(sandbox.base_url, budget)
    resilience = build_resilience(
        ResilienceSettings(rate_limits=settings.rate_limits(), max_wait_seconds=60),
        notifier=DedupNotifier(LogNotifier()),
        registry=CollectorRegistry(),
    )
    done = 0
    try:
        async with kiwoom_http_client(settings) as http:
            kiwoom = build_kiwoom(settings, resilience, FakeTokenVault(), http)
            await kiwoom.tokens.current()
            started = time.monotonic()
            stop_at = started + seconds

            async def caller(call: Callable[[], Awaitable[object]]) -> None:
                nonlocal done
                while time.monotonic() < stop_at:
                    await call()
                    done += 1

            await asyncio.gather(
                *(caller(lambda: kiwoom.market.quote("005930")) for _ in range(callers))
            )
            elapsed = time.monotonic() - started
        state = sandbox.state()
    finally:
        await resilience.aclose()
        sandbox.stop()
    retried = sum(
        int(s.value)
        for metric in resilience.metrics.registry.collect()
        if metric.name.endswith("retries")
        for s in metric.samples
        if s.name.endswith("_total")
    )
    print(f"-- sustained: {callers} callers for {seconds:.0f} s, budget {budget}/s per app key")
    print(f"calls completed:       {done} in {elapsed:.1f} s = {done / elapsed:.2f} calls/s")
    print(f"ratio to budget:       {done / elapsed / budget:.3f}")
    print(f"throttle replies:      {state['throttled']} (sandbox count; target 0)")
    print(f"adapter retries:       {retried}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=20.0)
    arguments = parser.parse_args()
    with open(os.devnull, "w") as devnull:
        _production_logging(devnull)
        asyncio.run(overhead(arguments.calls))
        asyncio.run(sustained(arguments.seconds))


if __name__ == "__main__":
    main()
