"""Crash suite: kill -9 the CLI at seeded random points of order submission, never a duplicate.

The service (`orchestrator serve`, with the KIS sandbox inside it) runs in its own process on a
SQLite file; `orchestrator orders place` runs as separate processes that are killed with SIGKILL:
before anything is recorded, in the window between recording the intent and the broker's reply
(made wide on purpose: the sandbox delays every order submission), and right after the reply.
Each killed command is retried with the same idempotency key, as a person would after a crash.
Then upkeep runs once with the clock moved past the settle window, and the books are compared:

    0 duplicates at the broker, 0 lost intents (every key has exactly one intent, every broker
    order is claimed by one), 0 unknown after upkeep, and the journal agrees with the broker.

Every key has its own limit price, so the broker's list tells which key each order belongs to.
No real sleeping: the driver waits on processes and polls the database for the row it will kill
after; the only delays are the sandbox's own latency, which is what opens the window.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from adapters.db.orders import DbOrderJournal
from orchestrator import bootstrap
from orchestrator.clock import SystemClock
from orchestrator.domain.model import OrderState
from orchestrator.services.orders import OrderRequest, OrderService
from orchestrator.settings import load_settings
from tests.support.figures import record

SEED = int(os.environ.get("CRASH_SEED", "20261203"))
KEYS = int(os.environ.get("CRASH_KEYS", "25"))
MIN_KILLS = int(os.environ.get("CRASH_MIN_KILLS", "50"))
LATENCY = 0.6  # seconds the sandbox holds every order submission before booking it
ORDER_PATH = "/uapi/domestic-stock/v1/trading/order-cash"
CONFIG = Path("config/orchestrator.yaml")
DEADLINE = 420.0  # the whole suite, wall clock, including process start-ups


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class World:
    env: dict[str, str]
    db_path: Path
    base: str


def _wait_ready(base: str, proc: subprocess.Popen[bytes], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while True:  # wait for the server to come up (bounded), not for time to pass
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert proc.poll() is None, "the service exited"
        assert time.monotonic() < deadline, "the service did not become ready"
        time.sleep(0.05)


def service_env(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, str], Path, int]:
    """The environment of a service on its own SQLite file and free port, migrated; also set
    in this process, since forked commands and the final checks read it."""
    port = _free_port()
    env = {
        **os.environ,
        "ORCH_DATABASE__URL": f"sqlite+aiosqlite:///{db_path}",
        "ORCH_SECURITY__SANDBOX_KEY_FILE": str(db_path.parent / "key"),
        "ORCH_API__PORT": str(port),
        "ORCH_LOGGING__LEVEL": "WARNING",
    }
    for name, value in env.items():
        if name.startswith("ORCH_"):
            monkeypatch.setenv(name, value)
    subprocess.run(
        [sys.executable, "-m", "orchestrator", "db", "upgrade"],
        env=env,
        check=True,
        capture_output=True,
    )
    return env, db_path, port


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    env, db_path, port = service_env(tmp_path / "crash.db", monkeypatch)
    cli = [sys.executable, "-m", "orchestrator"]
    service = subprocess.Popen(
        [*cli, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, service)
        faults = httpx.post(
            f"{base}/sandbox/kis/_sandbox/faults",
            json={"latency": {"seconds": LATENCY, "path": f"/sandbox/kis{ORDER_PATH}"}},
            timeout=5,
        )
        faults.raise_for_status()
        yield World(env, db_path, base)
    finally:
        service.kill()
        service.wait(timeout=30)


def _price(i: int) -> Decimal:
    return Decimal(60_000 + 100 * i)


class Command:
    """`orchestrator orders place ...` run by the real CLI code in a forked child.

    Forking the test process (every module already imported) instead of starting a new
    interpreter keeps 100+ commands within the time budget; the child is a separate process with
    its own event loop, connections and fate, and SIGKILL ends it as abruptly as any other.
    """

    def __init__(self, args: list[str]) -> None:
        self.pid = os.fork()
        if self.pid == 0:  # the child: run the command, never return into pytest
            code = 70
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.dup2(devnull, 2)
                sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - until _exit
                from orchestrator.cli import app

                try:
                    app(args, standalone_mode=False)
                    code = 0
                except SystemExit as e:
                    code = e.code if isinstance(e.code, int) else 1
                except BaseException as e:  # click.exceptions.Exit and friends
                    code = int(getattr(e, "exit_code", 1))
            finally:
                os._exit(code)
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired("orders place", timeout)
            time.sleep(0.005)  # polling the child's exit, not waiting for time to pass
        assert self.returncode is not None
        return self.returncode

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        self.wait(30)


def _place(world: World, i: int) -> Command:
    return Command(
        [
            "orders",
            "place",
            "--symbol",
            "005930",
            "--side",
            "buy",
            "--qty",
            "1",
            "--price",
            str(_price(i)),
            "--key",
            f"crash-{SEED}-{i}",
            "--no-show-balance",
        ]
    )


def _state(db_path: Path, key: str) -> str | None:
    try:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1) as conn:
            row = conn.execute(
                "SELECT state FROM order_intents WHERE idempotency_key = ?", (key,)
            ).fetchone()
            return None if row is None else str(row[0])
    except sqlite3.OperationalError:  # locked by a writer this instant: not known yet
        return None


def _recorded(db_path: Path, key: str) -> bool:
    return _state(db_path, key) is not None


def _kill_at(
    proc: subprocess.Popen[bytes], world: World, key: str, point: str, rng: random.Random
) -> str:
    """Kill `proc` at `point`; returns where the kill landed (or "finished" if it was too late)."""
    if point == "early":
        # Anywhere in start-up, recovery or recording: a seeded fraction of the process's life.
        try:
            proc.wait(timeout=rng.uniform(0.0, 0.35))
            return "finished"
        except subprocess.TimeoutExpired:
            pass
        landed = "after_record" if _recorded(world.db_path, key) else "before_record"
    else:
        while not _recorded(world.db_path, key):
            if proc.poll() is not None:
                return "finished"
            time.sleep(0.005)  # polling the database for the row, not waiting for time to pass
        if point == "window":
            # Recorded, the submission held by the sandbox: inside the window that matters.
            time.sleep(rng.uniform(0.0, LATENCY * 0.8))
            landed = "window"
        else:
            # The reply has come back and been recorded: kill while the command finishes up.
            while _state(world.db_path, key) in ("pending_submit", None):
                if proc.poll() is not None:
                    return "finished"
                time.sleep(0.005)  # polling the database, not waiting for time to pass
            landed = "after_reply"
    if proc.poll() is not None:
        return "finished"
    proc.kill()
    return landed


async def _upkeep_and_books(world: World, keys: list[str]) -> dict[str, object]:
    """Upkeep with the clock past every settle window, then compare journal and broker."""
    loaded = load_settings(CONFIG)
    container = bootstrap.build(loaded, attach_sandboxes=world.base)
    try:
        later = _Shifted(timedelta(minutes=11))
        assert container.kis is not None
        service = OrderService(
            DbOrderJournal(container.db, container.cipher), container.kis.executor, later
        )
        await service.recover()
        await service.resolve_pending()
        assert container.directory is not None
        account = await container.directory.trading_account("demo")
        records = await service.list_orders(limit=1000)
        mine = [r for r in records if r.intent.idempotency_key in set(keys)]
        # Each key placed again now answers with its settled outcome and sends nothing.
        replays_settled = 0
        for r in mine:
            again = await service.place(
                OrderRequest(
                    idempotency_key=r.intent.idempotency_key,
                    account=r.intent.account,
                    symbol=r.intent.symbol,
                    side=r.intent.side,
                    quantity=r.intent.quantity,
                    order_type=r.intent.order_type,
                    limit_price=r.intent.limit_price,
                )
            )
            replays_settled += int(
                again.id == r.id and again.state is r.state and not r.needs_settling
            )
        since = min(r.intent.created_at for r in mine) - timedelta(minutes=5)
        broker = await container.kis.executor.orders_since(account, since)
    finally:
        await container.close()
    prices = {_price(i): k for i, k in enumerate(keys)}
    at_broker = Counter(prices[o.limit_price] for o in broker if o.limit_price in prices)
    per_key = Counter(r.intent.idempotency_key for r in mine)
    claimed = Counter(r.broker_order_id for r in mine if r.broker_order_id)
    states = Counter(r.state for r in mine)
    booked = {r.intent.idempotency_key for r in mine if r.broker_order_id}
    return {
        "duplicates": sum(n - 1 for n in at_broker.values() if n > 1),
        "lost_intents": sum(1 for k in keys if per_key[k] != 1),
        "orphans": sum(1 for k in at_broker if k not in booked),
        "double_claims": sum(n - 1 for n in claimed.values() if n > 1),
        "unknown_after_upkeep": sum(1 for r in mine if r.state.unresolved),
        "broker_orders": sum(at_broker.values()),
        "replays_settled": replays_settled,
        "accepted": states[OrderState.ACCEPTED]
        + states[OrderState.PARTIALLY_FILLED]
        + states[OrderState.FILLED],
        "not_found": states[OrderState.NOT_FOUND],
        "rejected": states[OrderState.REJECTED],
    }


class _Shifted:
    """The system clock moved forward: upkeep as it runs once the settle window has passed."""

    def __init__(self, by: timedelta) -> None:
        self._by = by
        self._clock = SystemClock()

    def now(self) -> datetime:
        return self._clock.now() + self._by


def test_kill_nine_during_order_submission_never_duplicates(world: World) -> None:
    """>= 50 seeded kills at three points of submission: no duplicate, nothing lost or unknown."""
    rng = random.Random(SEED)
    started = time.monotonic()
    keys = [f"crash-{SEED}-{i}" for i in range(KEYS)]
    kills: Counter[str] = Counter()
    finished = 0
    runs = 0

    def run(i: int, kill_chance: float) -> bool:
        """One command for key i, maybe killed at a seeded point; True when it completed."""
        nonlocal finished, runs
        point = rng.choice(("early", "window", "window", "window", "after_reply"))
        replay = _recorded(world.db_path, keys[i])
        proc = _place(world, i)
        runs += 1
        landed = "finished"
        if rng.random() < kill_chance:
            landed = _kill_at(proc, world, keys[i], point, rng)
        else:
            proc.wait(timeout=120)
        if landed == "finished":
            finished += 1
            return True
        kills["replay" if replay else landed] += 1
        return False

    for i in range(KEYS):
        assert time.monotonic() - started < DEADLINE, "crash suite over its time budget"
        chance = 0.9
        while not run(i, chance):  # the person retries with the same key after each crash
            chance = 0.5
    while sum(kills.values()) < MIN_KILLS:
        assert time.monotonic() - started < DEADLINE, "crash suite over its time budget"
        run(rng.randrange(KEYS), 1.0)
    books = asyncio.run(_upkeep_and_books(world, keys))
    total_kills = sum(kills.values())
    record(
        "crash suite (orders)",
        seed=SEED,
        runs=runs,
        kills=total_kills,
        **{f"kills_{k}": v for k, v in sorted(kills.items())},
        completed=finished,
        seconds=round(time.monotonic() - started, 1),
        **books,
    )

    assert total_kills >= MIN_KILLS
    assert kills["window"] > 0, "no kill landed between recording and the broker's reply"
    assert books["duplicates"] == 0
    assert books["double_claims"] == 0
    assert books["lost_intents"] == 0
    assert books["orphans"] == 0
    assert books["unknown_after_upkeep"] == 0
    assert books["accepted"] == books["broker_orders"]
    assert books["replays_settled"] == KEYS
