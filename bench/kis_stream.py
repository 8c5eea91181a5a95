"""KIS real time: notice-to-order-state latency, frames decoded per second, reconnect time.

1. Latency: the real-flavour sandbox under uvicorn on a loopback port in its own process (as
   the broker is another machine: its matching and frame pumping do not share our event
   loop), the KIS adapter and its websocket session, the order service over a migrated SQLite
   file. `--fills` market orders are placed one after another; for each, the time from the
   fill notice's arrival at the adapter to the order being FILLED in the journal (with its
   fill row). When the notice beats the order's own REST reply, the state can only change
   once the reply is recorded, and that wait is counted. Goal: p99 under 200 ms.
2. Frames/s: one adapter session decoding `--frames` H0STCNT0 trade frames and as many
   AES-encrypted H0STCNI0 notices (for another account, so no journal work), on one core.
   Goal: >= 20,000/s.
3. Reconnect: `--drops` times the sandbox drops the session; time from the drop to the session
   being subscribed again (connect, acknowledgements; the approval key is kept), and to the gap
   being filled from the order list as well; the backoff sleep excluded.

    python -m bench.kis_stream [--fills 1000] [--frames 50000] [--drops 50]

(`--sandbox-child` is how the benchmark starts the sandbox process; not for direct use.)
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import logging
import sys
import tempfile
import time
from asyncio.subprocess import PIPE
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import structlog
import yaml
from cryptography.fernet import Fernet
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from adapters.db import migrate
from adapters.db.engine import Database
from adapters.db.orders import DbOrderJournal
from adapters.db.secrets import TokenCipher
from adapters.http import ResilienceSettings, build_resilience
from adapters.kis import build_kis
from adapters.kis.settings import KisSettings
from adapters.kis.stream import KisStream
from adapters.sandbox.kis import DEFAULT_SEED_PATH, SandboxClock, create_app
from adapters.sandbox.kis.clock import KST
from adapters.sandbox.kis.notices import NOTICE_FIELDS
from adapters.sandbox.kis.realtime import TRADE_FIELDS, encrypt, frame
from adapters.sandbox.kis.server import uvicorn_config
from orchestrator.domain.model import AccountRef, OrderEvent, OrderEventKind, OrderType, Side
from orchestrator.services.orders import OrderRequest, OrderService

START = datetime(2026, 3, 12, 9, 30, tzinfo=KST)


class Clock:
    """Our clock: ticking from START like the sandbox process's (as NTP would keep them). Its
    sleeps (reconnect backoff, retry backoff) only yield: they are not what is measured."""

    def __init__(self, sandbox: SandboxClock) -> None:
        self.sandbox = sandbox

    def now(self) -> datetime:
        return self.sandbox.now()

    def timer(self) -> float:
        return self.sandbox.now().timestamp()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)


class Sink:
    """The order service as the stream's sink, timing each fill from notice to state."""

    def __init__(self, service: OrderService) -> None:
        self.service = service
        self.arrived: dict[str, float] = {}
        self.early: set[str] = set()
        self.applied: set[str] = set()
        self.latencies: list[float] = []
        self.resumed = asyncio.Event()
        self.filled = asyncio.Condition()

    async def on_order_event(self, event: OrderEvent) -> object:
        start = time.perf_counter()
        result = await self.service.on_order_event(event)
        if event.kind is OrderEventKind.FILLED:
            key = event.order_id.lstrip("0")
            if result is None:
                self.arrived[key] = start
                self.early.add(key)
            else:
                self.latencies.append(time.perf_counter() - start)
                self.applied.add(key)
            async with self.filled:
                self.filled.notify_all()
        return result

    async def on_stream_resumed(self, account: AccountRef) -> int:
        n = await self.service.on_stream_resumed(account)
        self.resumed.set()
        return n


def _seed() -> dict[str, Any]:
    seed: dict[str, Any] = copy.deepcopy(yaml.safe_load(DEFAULT_SEED_PATH.read_text("utf-8")))
    seed["envs"]["real"]["rate_limit_per_second"] = 100_000
    seed["envs"]["real"]["accounts"][0]["cash"] = "100000000000"
    return seed


def sandbox_child() -> None:
    """The sandbox process: real flavour, clock ticking from START, on a free loopback port
    (printed on stdout), until terminated."""
    import socket

    import uvicorn

    app = create_app(
        env="real",
        seed=_seed(),
        clock=SandboxClock(START, ticking=True),
        ws_heartbeat_seconds=None,
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    server = uvicorn.Server(uvicorn_config(app, log_level="critical", lifespan="off"))
    asyncio.run(server.serve(sockets=[sock]))


async def _start_sandbox() -> tuple[asyncio.subprocess.Process, int]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.kis_stream", "--sandbox-child", stdout=PIPE
    )
    assert proc.stdout is not None
    port = int(await asyncio.wait_for(proc.stdout.readline(), 60))
    async with httpx.AsyncClient() as http:
        for _ in range(600):  # up within seconds; bounded
            try:
                await http.get(f"http://127.0.0.1:{port}/_sandbox/websocket")
                break
            except httpx.TransportError:
                await asyncio.sleep(0.05)
    return proc, port


async def latency_and_reconnect(fills: int, drops: int) -> None:
    clock = Clock(SandboxClock(START, ticking=True))
    # The same seed as the child's: the same demo app key, secret, account and HTS ID.
    demo = next(iter(create_app(env="real", seed=_seed()).state.broker.apps.values()))
    proc, port = await _start_sandbox()
    settings = KisSettings.model_validate(
        {
            "env": "real",
            "base_url": f"http://127.0.0.1:{port}",
            "app_key": f"literal:{demo.appkey}",
            "app_secret": f"literal:{demo.appsecret}",
            "account": f"literal:{demo.accounts[0]}",
            "rate_limit_per_second": 100_000,
            "realtime": {"url": f"ws://127.0.0.1:{port}/tryitout", "hts_id": demo.resolved_hts_id},
        }
    )
    resilience = build_resilience(
        ResilienceSettings(backoff_jitter_seconds=0),
        registry=CollectorRegistry(),
        clock=clock,
        sleep=clock.sleep,
        limiter_timer=clock.timer,
    )
    try:
        with tempfile.TemporaryDirectory() as tmp:
            db = Database(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}")
            await migrate.upgrade(db)
            cipher = TokenCipher([SecretStr(Fernet.generate_key().decode())])
            async with httpx.AsyncClient() as http:
                await _measure(fills, drops, settings, resilience, db, cipher, http, clock, port)
            await db.dispose()
    finally:
        await resilience.aclose()
        proc.terminate()
        await proc.wait()


async def _measure(
    fills: int,
    drops: int,
    settings: KisSettings,
    resilience: Any,
    db: Database,
    cipher: TokenCipher,
    http: httpx.AsyncClient,
    clock: Clock,
    port: int,
) -> None:
    from adapters.fake import FakeTokenVault

    kis = build_kis(settings, resilience, FakeTokenVault(), http, clock=clock)
    account = (await kis.accounts.accounts("demo"))[0]
    service = OrderService(DbOrderJournal(db, cipher), kis.executor, clock, sleep=clock.sleep)
    await service.recover()
    sink = Sink(service)
    stream = KisStream(settings, kis.client, account, clock=clock, sleep=clock.sleep)
    task = asyncio.create_task(stream.run(sink))
    await asyncio.wait_for(sink.resumed.wait(), 30)

    for i in range(fills):
        record = await service.place(
            OrderRequest(f"bench-{i}", account, "005930", Side.BUY, 1, OrderType.MARKET)
        )
        done = time.perf_counter()
        key = (record.broker_order_id or "").lstrip("0")

        def seen(k: str = key) -> bool:
            return k in sink.arrived or k in sink.applied

        async with sink.filled:
            await asyncio.wait_for(sink.filled.wait_for(seen), 10)
        if key in sink.early:
            sink.latencies.append(max(0.0, done - sink.arrived[key]))
    lat = sorted(sink.latencies)
    print(f"notice-to-state latency over {len(lat)} fills (loopback, SQLite journal):")
    print(
        f"  p50 {_pct(lat, 50) * 1000:.2f} ms  p99 {_pct(lat, 99) * 1000:.2f} ms  "
        f"max {lat[-1] * 1000:.2f} ms  (goal p99 < 200 ms: "
        f"{'met' if _pct(lat, 99) < 0.2 else 'NOT met'}); "
        f"{len(sink.early)} notices beat their REST reply"
    )

    times, filled = [], []
    lever = f"http://127.0.0.1:{port}/_sandbox/websocket"
    for _ in range(drops):
        stream.connected.clear()
        sink.resumed.clear()
        start = time.perf_counter()
        await http.post(lever, json={"drop_now": True})
        await asyncio.wait_for(stream.connected.wait(), 10)
        times.append(time.perf_counter() - start)
        await asyncio.wait_for(sink.resumed.wait(), 10)
        filled.append(time.perf_counter() - start)
    times.sort()
    filled.sort()
    print(f"reconnect-to-resubscribed over {drops} drops (backoff sleep not counted):")
    print(
        f"  resubscribed (connect, acks; approval key kept): p50 {_pct(times, 50) * 1000:.1f} ms"
        f"  p99 {_pct(times, 99) * 1000:.1f} ms; gap filled too (order-list read of the day's "
        f"{fills} orders): p50 {_pct(filled, 50) * 1000:.1f} ms  p99 "
        f"{_pct(filled, 99) * 1000:.1f} ms; reconnects counted "
        f"{int(stream.metrics.reconnects._value.get())}"
    )
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def _pct(values: list[float], q: int) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(len(values) * q / 100))]


class _NullSink:
    async def on_order_event(self, event: OrderEvent) -> object:
        return None

    async def on_stream_resumed(self, account: AccountRef) -> int:
        return 0


async def frames_per_second(count: int) -> None:
    settings = KisSettings.model_validate(
        {
            "env": "real",
            "app_key": "literal:k",
            "app_secret": "literal:s",
            "account": "literal:50012345-01",
            "realtime": {"hts_id": "benchhts"},
        }
    )
    account = AccountRef(
        user_id="demo",
        account_id="kis-real",
        institution="kis",  # type: ignore[arg-type]
        kind="brokerage",  # type: ignore[arg-type]
        external_ref="50012345-01",
        masked_number="5001****-01",
    )
    stream = KisStream(settings, None, account, clock=Clock(SandboxClock(START)))  # type: ignore[arg-type]
    key, iv = "k" * 32, "i" * 16
    from adapters.kis.frames import Decryptor

    stream._decryptor = Decryptor(key, iv)
    trade = ("005930", "093000", "71000", *(["0"] * (len(TRADE_FIELDS) - 3)))
    trades = [frame("H0STCNT0", [trade], secret=None) for _ in range(count)]
    record = ["benchhts", "9999999901", "0000000001", "", "02", "0", "00", "0", "005930", "1",
              "71000", "093000", "0", "2", "2", "91252", "1", "", "", "1", "Y", "", "10", "",
              "삼성전자", "71000"]  # fmt: skip
    assert len(record) == len(NOTICE_FIELDS)
    notice = f"1|H0STCNI0|001|{encrypt(key, iv, '^'.join(record))}"
    sink = _NullSink()
    for label, texts in (("H0STCNT0 trades", trades), ("H0STCNI0 notices (AES)", [notice] * count)):
        start = time.process_time()
        for text in texts:
            await stream.handle_frame(text, sink)
        cpu = time.process_time() - start
        rate = count / cpu
        print(
            f"{label}: {rate:,.0f} frames/s on one core ({count:,} in {cpu:.2f} s CPU; "
            f"goal >= 20,000/s: {'met' if rate >= 20_000 else 'NOT met'})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fills", type=int, default=1000)
    parser.add_argument("--frames", type=int, default=50_000)
    parser.add_argument("--drops", type=int, default=50)
    parser.add_argument("--sandbox-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sandbox_child:
        logging.disable(logging.CRITICAL)
        sandbox_child()
        return
    logging.disable(logging.CRITICAL)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    asyncio.run(frames_per_second(args.frames))
    asyncio.run(latency_and_reconnect(args.fills, args.drops))


if __name__ == "__main__":
    main()
