"""Sync 100,000 transactions from the sandbox relay into a database through the adapter.

One Samsung CMA is seeded with `--rows` history rows; the adapter streams them (25 a page, each
page a fresh bank_tran_id from the database) and a sink stores them in a temporary SQLite file in
batches. The stack runs as in production (resilient layer, per-user limiter key, breaker, token
handling); only the per-user budget is raised, since 30 requests a minute would make 4,000 pages
take over two hours. The sandbox runs in-process behind a timing wrapper, so its own time is
reported apart from the adapter's.

Prints rows per second and the peak RSS growth over the baseline taken after seeding (target
< 100 MB: rows are streamed, never held), then a final ratio line.

    python -m bench.transactions_sync [--rows 100000] [--batch 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import structlog
from cryptography.fernet import Fernet
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from starlette.types import ASGIApp, Receive, Scope, Send

from adapters.db import migrate
from adapters.db.engine import Database
from adapters.db.openbanking import build_openbanking_stores
from adapters.db.secrets import TokenCipher
from adapters.http import InProcessTransport, RateSpec, ResilienceSettings, build_resilience
from adapters.openbanking import OpenBankingSettings, build_openbanking, openbanking_http_client
from adapters.sandbox.openbanking import create_app
from orchestrator.clock import SystemClock
from orchestrator.domain.model import AccountKind, AccountRef, Institution, Transaction
from orchestrator.domain.timeutil import KST

TARGET_RSS_GROWTH_MB = 100.0
FINTECH = "120260101000000000240001"
CLIENT = {"id": "bench-client", "secret": "bench-secret-NOT-REAL", "use_code": "T990000009"}
REDIRECT = "http://127.0.0.1:8000/openbanking/callback"


class TimedApp:
    """Wraps the sandbox ASGI app and adds up the time spent inside it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.seconds = 0.0
        self.requests = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            self.seconds += time.perf_counter() - started
            self.requests += 1


def _seed(rows: int, last_day: datetime) -> dict[str, Any]:
    days = max(30, rows // 150)  # ~150 rows a day keeps the timestamps distinct and plausible
    return {
        "clients": [
            {
                "client_id": CLIENT["id"],
                "client_secret": CLIENT["secret"],
                "client_use_code": CLIENT["use_code"],
                "name": "벤치마크",
                "redirect_uris": [REDIRECT],
                "scopes": ["login", "inquiry"],
            }
        ],
        "users": [
            {
                "id": "bench",
                "user_seq_no": "1100000009",
                "user_name": "김벤치",
                "user_ci": "CI-BENCH-FAKE",
                "accounts": [
                    {
                        "fintech_use_num": FINTECH,
                        "bank_code_std": "240",
                        "account_num": "71001234567801",
                        "account_alias": "삼성증권 CMA",
                        "account_type": "T",
                        "account_issue_date": "20210412",
                        "balance_amt": 1_500_000_000,
                        "inquiry_agree_dtime": "20260101120000",
                        "history": {
                            "seed": 240,
                            "count": rows,
                            "days": days,
                            "end_date": last_day.strftime("%Y%m%d"),
                        },
                    }
                ],
            }
        ],
    }


def _rss() -> int:
    return int(psutil.Process().memory_info().rss)


async def run(rows: int, batch: int) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    today = datetime.now(KST)
    last_day = today - timedelta(days=1)

    seeding = time.perf_counter()
    sandbox = TimedApp(create_app(seed=_seed(rows, last_day)))
    print(f"seeded {rows:,} rows in {time.perf_counter() - seeding:.1f} s")

    settings = OpenBankingSettings(
        client_id=SecretStr(CLIENT["id"]),
        client_secret=SecretStr(CLIENT["secret"]),
        client_use_code=CLIENT["use_code"],
        redirect_uri=REDIRECT,
        scope="login inquiry",
    )
    resilience = build_resilience(
        ResilienceSettings(rate_limits={"openbanking_user": (RateSpec(limit=1_000_000),)}),
        registry=CollectorRegistry(),
    )
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}")
        await migrate.upgrade(db)
        stores = build_openbanking_stores(
            db, TokenCipher([SecretStr(Fernet.generate_key().decode())])
        )
        async with openbanking_http_client(
            settings, transport=InProcessTransport(app=sandbox)
        ) as http:
            ob = build_openbanking(settings, resilience, stores, http, clock=SystemClock())
            await ob.consent.provision_sandbox_consent("bench")
            (account,) = [
                a for a in await ob.source.accounts("bench") if a.external_ref == FINTECH
            ] or [_ref()]

            gc.collect()
            baseline = peak = _rss()
            sandbox.seconds, sandbox.requests = 0.0, 0
            started = time.perf_counter()
            buffer: list[Transaction] = []
            stored = 0
            start_day = (last_day - timedelta(days=max(30, rows // 150) + 1)).date()
            async for tx in ob.source.transactions(account, start_day, today.date()):
                buffer.append(tx)
                if len(buffer) >= batch:
                    stored += await stores.transactions.add_many(
                        buffer, source="openbanking", synced_at=ob_now()
                    )
                    buffer.clear()
                    peak = max(peak, _rss())
            stored += await stores.transactions.add_many(
                buffer, source="openbanking", synced_at=ob_now()
            )
            elapsed = time.perf_counter() - started
            peak = max(peak, _rss())
            in_db = await stores.transactions.count(account.account_id)
        await db.dispose()
    await resilience.aclose()

    growth_mb = (peak - baseline) / 2**20
    adapter_seconds = elapsed - sandbox.seconds
    print(f"rows synced:        {stored:,} (in database: {in_db:,}; pages: {sandbox.requests:,})")
    print(
        f"elapsed:            {elapsed:.1f} s, of which inside the sandbox {sandbox.seconds:.1f} s"
    )
    print(f"rows per second:    {stored / elapsed:,.0f} end to end")
    print(f"rows per second:    {stored / adapter_seconds:,.0f} adapter + database only")
    print(f"RSS baseline/peak:  {baseline / 2**20:.1f} MB / {peak / 2**20:.1f} MB")
    print(f"peak RSS growth:    {growth_mb:.1f} MB (target < {TARGET_RSS_GROWTH_MB:.0f} MB)")
    verdict = "ok" if growth_mb < TARGET_RSS_GROWTH_MB and in_db == rows else "FAILED"
    print(
        f"ratio peak_rss_growth/target = {growth_mb / TARGET_RSS_GROWTH_MB:.2f} "
        f"(< 1.00 passes; {verdict})"
    )


def ob_now() -> datetime:
    return datetime.now(UTC)


def _ref() -> AccountRef:
    return AccountRef(
        user_id="bench",
        account_id="bench-cma",
        institution=Institution.SAMSUNG_SECURITIES,
        kind=AccountKind.CMA,
        external_ref=FINTECH,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1_000)
    args = parser.parse_args()
    asyncio.run(run(args.rows, args.batch))


if __name__ == "__main__":
    main()
