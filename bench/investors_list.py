"""List and search endpoints with 10,000 investors: server time p50/p99 per query shape.

The investors are inserted straight into a migrated SQLite (or PostgreSQL with --pg URL) file, then
`/api/v1/investors` is asked through the ASGI app (no sockets): first page, a page deep in the
cursor chain, an id-prefix search and a display-name substring search. Goal: p99 under 50 ms.

    python -m bench.investors_list [--investors 10000] [--rounds 200] [--pg URL]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from cryptography.fernet import Fernet
from pydantic import SecretStr

from adapters.db import migrate
from adapters.db.audit import DbAuditLog
from adapters.db.engine import Database
from adapters.db.investors import DbInvestorStore
from adapters.db.secrets import TokenCipher
from adapters.db.tables import InvestorRow
from orchestrator.api.app import create_api
from orchestrator.api.auth import ApiKey
from orchestrator.api.investors import investors_router
from orchestrator.clock import SystemClock
from orchestrator.services.investors import InvestorService
from orchestrator.settings import DEMO_VIEWER_KEY, DEMO_VIEWER_KEY_SHA256

NAMES = ["김", "이", "박", "최", "정", "강", "조", "윤", "장", "임"]


async def _fill(db: Database, count: int) -> None:
    now = datetime.now(UTC)
    batch = 1000
    for start in range(0, count, batch):
        async with db.session() as session:
            for i in range(start, min(count, start + batch)):
                name = f"{NAMES[i % 10]}투자자{i:05d}"
                session.add(
                    InvestorRow(
                        id=f"inv-{i:05d}",
                        display_name=name,
                        search_name=name.lower(),
                        status="active",
                        created_at=now,
                        updated_at=now,
                    )
                )


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


async def main(investors: int, rounds: int, pg: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = pg or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        db = Database(url)
        await migrate.upgrade(db)
        await _fill(db, investors)
        cipher = TokenCipher([SecretStr(Fernet.generate_key().decode())])
        service = InvestorService(DbInvestorStore(db, cipher), DbAuditLog(db), SystemClock())
        keys = (ApiKey("viewer", "viewer", DEMO_VIEWER_KEY_SHA256),)
        app = create_api(readiness={}, routers=[investors_router(keys, service)])
        headers = {"Authorization": f"Bearer {DEMO_VIEWER_KEY}"}
        deep = f"inv-{investors // 2:05d}"
        shapes = {
            "first page (50)": {"limit": "50"},
            "deep cursor page (50)": {"limit": "50", "cursor": deep},
            "id prefix search": {"search": "inv-0999"},
            "name substring search": {"search": "투자자0777"},
        }
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            print(f"investors: {investors}, rounds per shape: {rounds}, engine: {db.dialect}")
            for label, params in shapes.items():
                times: list[float] = []
                for _ in range(rounds):
                    t0 = time.perf_counter()
                    r = await client.get("/api/v1/investors", params=params, headers=headers)
                    times.append((time.perf_counter() - t0) * 1000)
                    assert r.status_code == 200, r.text
                p99 = _pct(times, 0.99)
                print(
                    f"{label:24s} p50 {statistics.median(times):6.2f} ms  p99 {p99:6.2f} ms  "
                    f"goal 50 ms: {'ok' if p99 < 50 else 'MISSED'} (ratio {p99 / 50:.2f})"
                )
        await db.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--investors", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--pg", default=None)
    args = parser.parse_args()
    asyncio.run(main(args.investors, args.rounds, args.pg))
