"""Scale-out: one fire over N investors on PostgreSQL, run by 1 and by 2 worker processes.

Each investor has their own KIS app key (18/s each) and a Samsung CMA at the open-banking
sandbox; both sandboxes run in their own processes, so the figures for the workers are the
client side alone. The fire is deferred through procrastinate exactly as a scheduler would; it
fans out one task per investor (the service's reconcile task), run by `bench._scale_worker`
processes with Redis-shared budgets when Redis answers.

Untimed: consent for every investor and a KIS token per app key (a real service finds them in
the vault), worker start-up. Timed: from the deferral of the fire to the run's completion.

Prints, for each worker count and repetition: wall time, investors/s, p50/p99 of the per-investor
task, database connections the workers held (peak, from pg_stat_activity), peak RSS per worker,
worker CPU seconds and investors per CPU-second (= per core, client side), the CPU the sandboxes
and PostgreSQL used meanwhile (in cores: on 2 cores they share the machine with the workers)
and the load average; then the ratios
(2 workers / 1 worker) and the arithmetic for 10,000 investors in one 5-minute fire.

    python -m bench.scale_out [--investors 2000] [--repeat 3] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psutil
from sqlalchemy import text

from adapters.db.engine import Database
from adapters.db.jobs import DbJobRunStore
from adapters.tasks import ProcrastinateEngine, TaskHost, create_task_app
from bench import _recon_world as world
from bench._scale_world import build_world, prepare, scale_setup
from orchestrator.clock import SystemClock
from orchestrator.domain.timeutil import to_utc
from orchestrator.logging import configure_logging

ROOT = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
# Investors per worker CPU-second before the per-core work of issue 15 (this benchmark at 2,000
# investors on the code of that time; CHANGELOG, issue 15).
BEFORE_PER_CORE = 8.6


@dataclass
class Figures:
    workers: int
    wall: float
    per_second: float
    p50_ms: float
    p99_ms: float
    connections: int
    rss_mb: list[float]
    cpu_seconds: float
    failed: int
    sandbox_cpu: float = 0.0
    postgres_cpu: float = 0.0
    load: float = 0.0

    @property
    def per_cpu_second(self) -> float:
        return 0.0 if self.cpu_seconds == 0 else (self.per_second * self.wall) / self.cpu_seconds


def _percentile(values: list[int], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))])


def _postgres_cpu() -> float:
    """CPU seconds of every PostgreSQL process (other clients of the server count too)."""
    total = 0.0
    for p in psutil.process_iter(["name", "cpu_times"]):
        if p.info["name"] in ("postgres", "postmaster") and p.info["cpu_times"] is not None:
            total += p.info["cpu_times"].user + p.info["cpu_times"].system
    return total


async def _one_fire(
    db: Database,
    env: dict[str, str],
    workers: int,
    investors: int,
    tmp: Path,
    tag: str,
    sandboxes: list[world.SandboxProcess],
) -> Figures:
    app_name = f"bench-scale-{tag}"
    procs = []
    for n in range(workers):
        log = (tmp / f"worker-{tag}-{n}.log").open("w")
        procs.append(
            subprocess.Popen(  # noqa: ASYNC220 - start-up is untimed
                [sys.executable, "-m", "bench._scale_worker"],
                cwd=ROOT,
                env={**os.environ, **env, "SCALE_NAME": f"w{n}", "SCALE_APP_NAME": app_name},
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        )
    try:
        for p in procs:
            assert p.stdout is not None
            line = await asyncio.to_thread(p.stdout.readline)
            if line.strip() != "ready":
                raise RuntimeError(f"worker did not start (see {tmp})")
        ps = [psutil.Process(p.pid) for p in procs]
        cpu_before = sum(x.cpu_times().user + x.cpu_times().system for x in ps)
        sandbox_before = sum(x.cpu_seconds() for x in sandboxes)
        pg_before = _postgres_cpu()
        store = DbJobRunStore(db)
        app = create_task_app(db.url, TaskHost(), search_path=db.search_path)
        peak_conn, peak_rss = 0, [0.0] * workers
        async with app.open_async():
            fire_at = to_utc(SystemClock().now()).replace(microsecond=0)
            started = time.perf_counter()
            await ProcrastinateEngine(app).defer_fire("reconcile-scale", fire_at)
            while True:
                await asyncio.sleep(0.25)
                async with db.session() as session:
                    count = (
                        await session.execute(
                            text(
                                "SELECT count(*) FROM pg_stat_activity "
                                "WHERE application_name = :name"
                            ),
                            {"name": app_name},
                        )
                    ).scalar_one()
                peak_conn = max(peak_conn, int(count))
                for i, x in enumerate(ps):
                    peak_rss[i] = max(peak_rss[i], x.memory_info().rss / 2**20)
                run = await store.run("reconcile-scale", fire_at)
                if run is not None and run.status != "running":
                    break
            wall = time.perf_counter() - started
        cpu_after = sum(x.cpu_times().user + x.cpu_times().system for x in ps)
        sandbox_cpu = sum(x.cpu_seconds() for x in sandboxes) - sandbox_before
        postgres_cpu = _postgres_cpu() - pg_before
        durations = [
            i.duration_ms
            for i in await store.items("reconcile-scale", fire_at, limit=investors + 1)
        ]
        return Figures(
            workers=workers,
            wall=wall,
            per_second=investors / wall,
            p50_ms=_percentile(durations, 0.5),
            p99_ms=_percentile(durations, 0.99),
            connections=peak_conn,
            rss_mb=peak_rss,
            cpu_seconds=cpu_after - cpu_before,
            failed=run.failed,
            sandbox_cpu=sandbox_cpu,
            postgres_cpu=postgres_cpu,
            load=os.getloadavg()[0],
        )
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
            if p.stdout is not None:
                p.stdout.close()


async def run(investors: int, repeat: int, concurrency: int, profile: str | None) -> int:
    configure_logging("WARNING", "json", stream=sys.stderr)
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    async with scale_setup(PG_URL, investors, lifetime_seconds=7200) as (db, kis, ob):
        here = build_world(
            db,
            kis_url=kis.base_url,
            ob_url=ob.base_url,
            users=investors,
            redis_url=REDIS_URL,
            redis_prefix=prefix,
        )
        started = time.perf_counter()
        await prepare(here, investors)
        await here.close()
        print(f"investors:        {investors} (own KIS app key each; sandboxes in 2 processes)")
        print(f"setup (untimed):  consent + tokens {time.perf_counter() - started:.1f} s")
        env = {
            "SCALE_DB_URL": PG_URL,
            "SCALE_SCHEMA": db.search_path or "",
            "SCALE_KIS_URL": kis.base_url,
            "SCALE_OB_URL": ob.base_url,
            "SCALE_USERS": str(investors),
            "SCALE_REDIS_URL": REDIS_URL,
            "SCALE_REDIS_PREFIX": prefix,
            "SCALE_CONCURRENCY": str(concurrency),
        }
        results: dict[int, list[Figures]] = {1: [], 2: []}
        with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
            for r in range(repeat):
                for workers in (1, 2):
                    extra = {}
                    if profile and workers == 1 and r == 0:
                        extra["SCALE_PROFILE"] = profile
                    f = await _one_fire(
                        db,
                        {**env, **extra},
                        workers,
                        investors,
                        Path(tmp),
                        f"{r}-{workers}",
                        [kis, ob],
                    )
                    results[workers].append(f)
                    rss = ", ".join(f"{m:.0f}" for m in f.rss_mb)
                    print(
                        f"run {r + 1} {workers} worker{'s' if workers > 1 else ' '}: "
                        f"{f.wall:6.2f} s  {f.per_second:6.1f} investors/s  "
                        f"p50 {f.p50_ms:5.0f} ms  p99 {f.p99_ms:5.0f} ms  "
                        f"db connections {f.connections:2d}  peak RSS {rss} MB  "
                        f"worker CPU {f.cpu_seconds:5.1f} s = "
                        f"{f.per_cpu_second:5.1f} investors per CPU-second  failed {f.failed}"
                    )
                    print(
                        f"                  sandboxes' CPU {f.sandbox_cpu:5.1f} s "
                        f"({f.sandbox_cpu / f.wall:.2f} cores), PostgreSQL CPU "
                        f"{f.postgres_cpu:5.1f} s ({f.postgres_cpu / f.wall:.2f} cores), workers "
                        f"{f.cpu_seconds / f.wall:.2f} cores; 1-min load average {f.load:.1f}"
                    )
        one = statistics.median(f.per_second for f in results[1])
        two = statistics.median(f.per_second for f in results[2])
        core = statistics.median(f.per_cpu_second for f in results[1])
        core_two = statistics.median(f.per_cpu_second for f in results[2])
        print(f"median 1 worker:  {one:.1f} investors/s; per core (client side) {core:.1f}/s")
        print(f"median 2 workers: {two:.1f} investors/s; per core (client side) {core_two:.1f}/s")
        print(
            f"per core vs before: {core / BEFORE_PER_CORE:.2f}x (1 worker), "
            f"{core_two / BEFORE_PER_CORE:.2f}x (2 workers) of {BEFORE_PER_CORE} (goal >= 3x)"
        )
        needed = 10_000 / 300
        print(
            f"10,000 investors in one 5-minute fire need {needed:.1f} investors/s: "
            f"{needed / one:.1f} workers at the 1-worker rate (one core each, sandboxes apart)"
        )
        print(f"ratio: {two / one:.2f} (2 workers / 1 worker; goal >= 1.8 on 2 free cores)")
        return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--investors", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--profile", help="cProfile the first 1-worker run into this file")
    a = parser.parse_args()
    if not 1 <= a.investors <= 20_000 or not 1 <= a.repeat <= 10:
        parser.error("--investors 1..20000, --repeat 1..10")
    return asyncio.run(run(a.investors, a.repeat, a.concurrency, a.profile))


if __name__ == "__main__":
    sys.exit(main())
