"""One procrastinate worker process of the scale-out world (tests/tasks, bench.scale_out).

    python -m bench._scale_worker      (configured by the environment, below)

SCALE_DB_URL, SCALE_SCHEMA (PostgreSQL search_path), SCALE_KIS_URL, SCALE_OB_URL, SCALE_USERS,
SCALE_KEY_GROUP, SCALE_NAME, SCALE_CONCURRENCY, SCALE_ORDERS ("1": place one order per investor
and fire), SCALE_REDIS_URL / SCALE_REDIS_PREFIX (shared budgets), SCALE_HEARTBEAT and
SCALE_STALLED (seconds), SCALE_LOG_LEVEL. Prints "ready" once it takes tasks; stops on SIGTERM
(graceful: running tasks finish) or dies on SIGKILL (its tasks are retried elsewhere).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

import pyinstrument

from adapters.db.engine import Database
from adapters.db.jobs import DbJobRunStore
from adapters.tasks import ProcrastinateEngine, TaskHost, create_task_app, run_worker
from bench._scale_world import ScaleWork, build_world, open_orders
from orchestrator.calendar import KrxCalendar
from orchestrator.clock import SystemClock
from orchestrator.logging import configure_logging
from orchestrator.scheduling import JobFire, JobSpec, Scheduler, SchedulerSettings
from orchestrator.services.fanout import FanOut, InvestorTaskRunner

FIRE_JOB = JobSpec(id="reconcile-scale", action="reconcile", interval_seconds=300)


async def main() -> None:
    env = os.environ
    # Logs on stderr: stdout carries only the "ready" line.
    configure_logging(env.get("SCALE_LOG_LEVEL", "WARNING"), "json", stream=sys.stderr)
    logging.getLogger("procrastinate").setLevel(logging.WARNING)
    name = env["SCALE_NAME"]
    schema = env.get("SCALE_SCHEMA") or None
    app_name = env.get("SCALE_APP_NAME", "orchestrator-worker")
    server_settings = {"application_name": app_name}
    if schema:
        server_settings["search_path"] = schema
    db = Database(env["SCALE_DB_URL"], connect_args={"server_settings": server_settings})
    world = build_world(
        db,
        kis_url=env["SCALE_KIS_URL"],
        ob_url=env["SCALE_OB_URL"],
        users=int(env["SCALE_USERS"]),
        key_group=int(env.get("SCALE_KEY_GROUP", "1")),
        redis_url=env.get("SCALE_REDIS_URL") or None,
        redis_prefix=env.get("SCALE_REDIS_PREFIX", "orchestrator"),
    )
    clock = SystemClock()
    store = DbJobRunStore(db)
    runner = InvestorTaskRunner(
        ScaleWork(world, place_orders=env.get("SCALE_ORDERS") == "1"), store, clock, worker=name
    )
    host = TaskHost(runner=runner, worker=name)
    app = create_task_app(db.url, host, search_path=db.search_path, application_name=app_name)
    fanout = FanOut(store, ProcrastinateEngine(app))
    investors = await world.reconcile.investors()

    async def reconcile(fire: JobFire) -> object:
        return await fanout(fire, "reconcile", investors)

    host.scheduler = Scheduler(
        SchedulerSettings(jobs=(FIRE_JOB,)),
        actions={"reconcile": reconcile},
        store=store,
        calendar=KrxCalendar(),
        clock=clock,
        replica=name,
        engine=ProcrastinateEngine(app),
    )
    try:
        await open_orders(world)
        async with app.open_async():
            print("ready", flush=True)
            await run_worker(
                app,
                name=name,
                concurrency=int(env.get("SCALE_CONCURRENCY", "8")),
                heartbeat_seconds=float(env.get("SCALE_HEARTBEAT", "10")),
                stalled_after=float(env.get("SCALE_STALLED", "30")),
                install_signal_handlers=True,
            )
    finally:
        await world.close()
        await db.dispose()


if __name__ == "__main__":
    # SCALE_PROFILE=FILE: the whole process sampled by pyinstrument (CPU of the client side),
    # its call tree written to FILE as text.
    if os.environ.get("SCALE_PROFILE"):
        profiler = pyinstrument.Profiler(interval=0.002)
        with profiler:
            asyncio.run(main())
        Path(os.environ["SCALE_PROFILE"]).write_text(
            profiler.output_text(unicode=True, color=False), encoding="utf-8"
        )
    else:
        asyncio.run(main())
