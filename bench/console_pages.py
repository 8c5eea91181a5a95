"""Server time per console page with 10,000 orders and 1,000 reconciliation runs in the database,
and upstream calls per page view.

The service is wired as `make run` wires it (SQLite file in a temporary directory, in-process
sandboxes, scheduler running), one real reconciliation and one real order are made, and then
copied into the database until it holds `--orders` order intents and `--runs` finished
reconciliation runs (each with the real run's report: sources, portfolio, breaks). An operator
logs in; each page is requested `--requests` times through the ASGI interface (no socket, so
the figure is the server's own time: routing, session, queries, template) after a few untimed
warm-up requests. The upstream layer's request counter is read before and after: page views
must not call a vendor (goal 0 per view). Goal: p99 under 100 ms per page.

    python -m bench.console_pages [--orders 10000] [--runs 1000] [--requests 100]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import select

from adapters.db import migrate
from adapters.db.tables import OrderIntentRow, ReconciliationRunRow
from orchestrator import bootstrap
from orchestrator.domain.model import OrderType, Side
from orchestrator.services.orders import OrderRequest
from orchestrator.settings import DEMO_API_KEY, load_settings

GOAL_MS = 100.0


def _upstream_calls(container: bootstrap.Container) -> float:
    total = 0.0
    for metric in container.resilience.metrics.registry.collect():
        for sample in metric.samples:
            if sample.name == "orchestrator_upstream_requests_total":
                total += sample.value
    return total


async def _fill(container: bootstrap.Container, orders: int, runs: int) -> str:
    """Copy the real order and run until the database holds `orders` and `runs` of them."""
    assert container.orders is not None
    assert container.directory is not None
    if not container.orders.ready:
        await container.orders.recover()
    account = await container.directory.trading_account("demo")
    await container.orders.place(
        OrderRequest("bench-seed", account, "005930", Side.BUY, 1, OrderType.MARKET)
    )
    async with container.db.session() as s:
        order = (await s.execute(select(OrderIntentRow))).scalars().first()
        run = (
            (
                await s.execute(
                    select(ReconciliationRunRow).order_by(ReconciliationRunRow.started_at)
                )
            )
            .scalars()
            .first()
        )
        assert order is not None
        assert run is not None
        order_fields = order.model_dump()
        run_fields = run.model_dump()
    # Terminal states only: the orders-upkeep job must not ask the broker about copies.
    states = ("filled", "cancelled", "rejected")
    batch = 1000
    for start in range(1, orders, batch):
        async with container.db.session() as s:
            for i in range(start, min(start + batch, orders)):
                at = order_fields["created_at"] - timedelta(minutes=i)
                s.add(
                    OrderIntentRow(
                        **{
                            **order_fields,
                            "id": f"oi-bench-{i:06d}",
                            "idempotency_key": f"bench-{i:06d}",
                            "state": states[i % len(states)],
                            "broker_order_id": f"B{i:09d}",
                            "created_at": at,
                            "updated_at": at,
                        }
                    )
                )
    for start in range(1, runs, batch):
        async with container.db.session() as s:
            for i in range(start, min(start + batch, runs)):
                at = run_fields["started_at"] - timedelta(minutes=10 * i)
                s.add(
                    ReconciliationRunRow(
                        **{
                            **run_fields,
                            "id": f"bench-run-{i:06d}",
                            "started_at": at,
                            "finished_at": at + timedelta(seconds=1),
                            "status": "breaks" if i % 7 == 0 else "clean",
                        }
                    )
                )
    return str(run_fields["id"])


def _pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def main(orders: int, runs: int, requests: int) -> int:
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["ORCH_DATABASE__URL"] = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        os.environ["ORCH_SECURITY__SANDBOX_KEY_FILE"] = str(Path(tmp) / "key")
        os.environ["ORCH_LOGGING__LEVEL"] = "WARNING"
        container = bootstrap.build(load_settings(Path("config/orchestrator.yaml")))
        await migrate.upgrade(container.db)
        async with bootstrap.running(container):
            assert container.scheduler is not None
            await container.scheduler.wait_idle()
            for job in await container.scheduler.jobs():  # no background work while timing
                await container.scheduler.pause(job.id, "bench")
            t0 = time.perf_counter()
            run_id = await _fill(container, orders, runs)
            print(f"seeded {orders:,} orders and {runs:,} runs in {time.perf_counter() - t0:.1f} s")
            api = bootstrap.build_api(container)
            transport = httpx.ASGITransport(app=api)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                form = await client.get("/login")
                token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
                assert token is not None
                await client.post(
                    "/login", data={"api_key": DEMO_API_KEY, "csrf_token": token.group(1)}
                )
                pages = [
                    "/",
                    "/?fragment",
                    "/portfolio",
                    "/portfolio/charts/value.svg",
                    "/portfolio/charts/allocation.svg",
                    "/reconciliations",
                    "/reconciliations?page=20",
                    f"/reconciliations/{run_id}",
                    "/breaks?state=all",
                    "/orders",
                    "/orders?page=100",
                    "/orders?state=filled",
                    "/jobs",
                    "/workflows",
                    "/audit",
                ]
                before = _upstream_calls(container)
                views = 0
                worst = 0.0
                print(f"{'page':40} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
                for page in pages:
                    headers = {"X-Fragment": "1"} if page.endswith("?fragment") else {}
                    path = page.removesuffix("?fragment")
                    for _ in range(3):
                        await client.get(path, headers=headers)
                    times: list[float] = []
                    for _ in range(requests):
                        start = time.perf_counter()
                        response = await client.get(path, headers=headers)
                        times.append((time.perf_counter() - start) * 1000)
                        if response.status_code != 200:
                            print(f"{page}: HTTP {response.status_code}", file=sys.stderr)
                            return 1
                    views += requests + 3
                    p99 = _pct(times, 99)
                    worst = max(worst, p99)
                    print(f"{page:40} {_pct(times, 50):8.1f} {p99:8.1f} {max(times):8.1f}")
                calls = _upstream_calls(container) - before
        print(
            f"upstream calls during {views:,} page views: {calls:.0f} "
            f"({calls / views:.3f} per view; goal 0)"
        )
        print(
            f"worst p99 {worst:.1f} ms; goal {GOAL_MS:.0f} ms: "
            f"ratio {worst / GOAL_MS:.2f} ({'met' if worst < GOAL_MS else 'NOT met'})"
        )
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=1_000)
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.orders, args.runs, args.requests)))
