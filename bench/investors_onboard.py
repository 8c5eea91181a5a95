"""Onboard N investors through the API, then reconcile them all, each with their own KIS key.

The service is built as `make run` wires it (sandbox mode, in-process KIS and KFTC sandboxes,
reached through the ASGI app: no sockets), on a temporary SQLite file (the composition root
takes no PostgreSQL schema to isolate a run in a shared database; reconciling many investors
with their own keys on PostgreSQL is what `bench/scale_out.py` measures). Per investor,
over the API: create, attach the KIS key the KIS sandbox made for them (proven by issuing a
token), start consent, consent on the sandbox relay's page, our callback (which also runs
account discovery). Printed: onboarding rate, p50/p99 per step and per investor. Then one
reconciliation of every investor: investors/s, the KIS sandbox's throttle replies (goal 0) and
the peak RSS of the process.

    python -m bench.investors_onboard [--investors 1000] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from adapters.db import migrate
from orchestrator import bootstrap
from orchestrator.logging import configure_logging
from orchestrator.settings import DEMO_API_KEY, load_settings

OPERATOR = {"Authorization": f"Bearer {DEMO_API_KEY}"}


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


class Steps:
    def __init__(self) -> None:
        self.times: dict[str, list[float]] = {}

    async def timed(self, name: str, call: Callable[[], Awaitable[httpx.Response]]) -> Any:
        start = time.perf_counter()
        reply = await call()
        self.times.setdefault(name, []).append(time.perf_counter() - start)
        if reply.status_code >= 400:
            raise RuntimeError(f"{name}: {reply.status_code} {reply.text[:200]}")
        return reply


async def _onboard(
    api: httpx.AsyncClient, steps: Steps, who: str, key: dict[str, str], relay_user: str
) -> None:
    await steps.timed(
        "create", lambda: api.post("/api/v1/investors", json={"id": who}, headers=OPERATOR)
    )
    body = {"app_key": key["appkey"], "app_secret": key["appsecret"], "account": key["account"]}
    await steps.timed(
        "attach KIS key",
        lambda: api.put(f"/api/v1/investors/{who}/credentials/kis", json=body, headers=OPERATOR),
    )
    started = await steps.timed(
        "start consent", lambda: api.post(f"/api/v1/investors/{who}/consent", headers=OPERATOR)
    )
    page = started.json()["browser_url"].removeprefix("http://127.0.0.1:8080")
    chosen = await steps.timed(
        "consent page", lambda: api.get(f"{page}&sandbox_auto_consent={relay_user}")
    )
    callback = urlsplit(chosen.headers["location"])
    await steps.timed("callback + discovery", lambda: api.get(f"{callback.path}?{callback.query}"))


async def main(investors: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["ORCH_DATABASE__URL"] = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        os.environ["ORCH_SECURITY__SANDBOX_KEY_FILE"] = str(Path(tmp) / "key")
        configure_logging("ERROR", "json", stream=sys.stderr)  # the bench prints its figures
        container = bootstrap.build(load_settings(Path("config/orchestrator.yaml")))
        await migrate.upgrade(container.db)
        app = bootstrap.build_api(container)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc", timeout=60) as api:
            made = await api.post(
                "/sandbox/kis/_sandbox/investors", json={"count": investors, "cash": 5_000_000}
            )
            keys = made.json()["investors"]
            users = await api.post(
                "/sandbox/openbanking/_sandbox/users",
                json={"count": investors, "institutions": ["240", "243"], "history_count": 5},
            )
            relay_users = [u["id"] for u in users.json()["users"]]
            steps = Steps()
            per_investor: list[float] = []
            gate = asyncio.Semaphore(concurrency)

            async def one(i: int) -> None:
                async with gate:
                    start = time.perf_counter()
                    await _onboard(api, steps, f"b{i:05d}", keys[i], relay_users[i])
                    per_investor.append(time.perf_counter() - start)

            began = time.perf_counter()
            await asyncio.gather(*(one(i) for i in range(investors)))
            onboard_s = time.perf_counter() - began

            ids = [f"b{i:05d}" for i in range(investors)]
            began = time.perf_counter()
            assert container.reconcile is not None
            report = await container.reconcile.run_once(trigger="bench", users=ids)
            reconcile_s = time.perf_counter() - began
            kis = (await api.get("/sandbox/kis/_sandbox/accounts")).json()
        await container.close()

    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    stale = sum(1 for p in report.portfolios if p.stale_accounts)
    print(
        f"database: SQLite; {investors} investors, "
        f"concurrency {concurrency} (machine shared: figures under load)"
    )
    print(
        f"onboarding: {investors / onboard_s:.1f} investors/s over {onboard_s:.1f} s; "
        f"per investor p50 {statistics.median(per_investor) * 1000:.0f} ms, "
        f"p99 {_pct(per_investor, 0.99) * 1000:.0f} ms"
    )
    for name, values in steps.times.items():
        print(
            f"  {name:22} p50 {statistics.median(values) * 1000:7.1f} ms   "
            f"p99 {_pct(values, 0.99) * 1000:7.1f} ms"
        )
    print(
        f"reconcile: {investors / reconcile_s:.1f} investors/s ({reconcile_s:.1f} s, run "
        f"{report.status}, {stale} with a stale account), KIS sandbox throttle replies "
        f"{kis['rate_limited_replies']} (goal 0)"
    )
    print(f"peak RSS {rss_mb:.0f} MB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--investors", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    asyncio.run(main(args.investors, args.concurrency))
