"""The task queue's own upkeep on PostgreSQL: finished jobs pruned, procrastinate's schema
created, upgraded with procrastinate's migration files and stamped with its release."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from adapters.db.engine import Database
from adapters.db.jobs import DbJobRunStore
from adapters.tasks import ProcrastinateEngine, TaskHost, apply_schema, conninfo, create_task_app
from adapters.tasks.engine import PINNED, PRUNE_TASK, pending_migrations, prune_finished_jobs
from orchestrator.clock import SystemClock
from orchestrator.domain.errors import ConfigError
from orchestrator.ports.tasks import InvestorTask
from orchestrator.services.fanout import InvestorTaskRunner
from tests.support.databases import fresh_database

FIRE = datetime(2026, 6, 4, 1, 0, tzinfo=UTC)


@pytest.fixture
async def pg(tmp_path: Path) -> AsyncIterator[Database]:
    async with fresh_database("postgres", tmp_path) as db:
        yield db


async def _sql(db: Database, query: str) -> list[tuple[object, ...]]:
    options = f"-c search_path={db.search_path}" if db.search_path else ""
    async with await psycopg.AsyncConnection.connect(
        conninfo(db.url), options=options, autocommit=True
    ) as conn:
        cur = await conn.execute(query)  # type: ignore[arg-type]
        return list(await cur.fetchall()) if cur.description else []


def test_the_pinned_release_is_what_is_installed() -> None:
    import importlib.metadata

    assert importlib.metadata.version("procrastinate") == PINNED


def test_pending_migrations_are_the_releases_after_the_applied_one_in_order() -> None:
    names = [p.name for p in pending_migrations("3.2.0", "3.4.0")]
    assert names == [
        "03.03.00_01_pre_priority_lock_fetch_job.sql",
        "03.04.00_01_pre_add_retry_failed_job_procedure.sql",
        "03.04.00_50_post_add_retry_failed_job_procedure.sql",
    ]
    assert pending_migrations(PINNED, PINNED) == []


@pytest.mark.postgres
async def test_finished_jobs_older_than_the_retention_are_pruned(pg: Database) -> None:
    """Old succeeded and failed jobs go (with their events, and a periodic defer row's link to
    the fire's job); jobs still to run and recent ones stay."""
    store = DbJobRunStore(pg)
    host = TaskHost(runner=InvestorTaskRunner(object(), store, SystemClock(), worker="w"))  # type: ignore[arg-type]
    app = create_task_app(pg.url, host, search_path=pg.search_path, keep_finished_hours=24)
    assert PRUNE_TASK in {t.task.name for t in app.periodic_registry.periodic_tasks.values()}
    async with app.open_async():
        engine = ProcrastinateEngine(app)
        await engine.submit([InvestorTask("reconcile", f"u{i}", "recon", FIRE) for i in range(4)])
        assert await engine.defer_fire("recon", FIRE)
        jobs = {
            j.task_kwargs.get("investor", "fire"): j.id
            for j in await app.job_manager.list_jobs_async()
        }
        assert len(jobs) == 5
        old = {jobs["u0"]: "succeeded", jobs["u1"]: "failed", jobs["fire"]: "succeeded"}
        for job_id, status in old.items():
            await _sql(pg, f"UPDATE procrastinate_jobs SET status = '{status}' WHERE id = {job_id}")
        await _sql(
            pg, f"UPDATE procrastinate_jobs SET status = 'succeeded' WHERE id = {jobs['u2']}"
        )
        aged = ", ".join(str(j) for j in (*old, jobs["u3"]))
        await _sql(
            pg,
            f"UPDATE procrastinate_events SET at = now() - interval '30 hours' "
            f"WHERE job_id IN ({aged})",
        )

        await prune_finished_jobs(app, keep_hours=24)
        left = {j.id for j in await app.job_manager.list_jobs_async()}
        assert left == {jobs["u2"], jobs["u3"]}
        events = await _sql(
            pg,
            f"SELECT count(*) FROM procrastinate_events WHERE job_id IN "
            f"({jobs['u0']}, {jobs['u1']})",
        )
        assert events == [(0,)]
        # The fire's defer row stays (it de-duplicates later offers), unlinked from the job.
        defers = await _sql(pg, "SELECT job_id FROM procrastinate_periodic_defers")
        assert defers == [(None,)]


@pytest.mark.postgres
async def test_a_large_fan_out_refreshes_the_queue_statistics(pg: Database) -> None:
    """A fan-out of ANALYZE_AFTER jobs or more analyzes the queue table (fresh statistics, and
    the workers' cached fetch plans replanned on them); a small one leaves it alone."""
    from adapters.tasks.engine import ANALYZE_AFTER

    host = TaskHost()
    app = create_task_app(pg.url, host, search_path=pg.search_path)
    reltuples = "SELECT reltuples FROM pg_class WHERE oid = 'procrastinate_jobs'::regclass"
    async with app.open_async():
        engine = ProcrastinateEngine(app)
        await engine.submit([InvestorTask("reconcile", f"s{i}", "recon", FIRE) for i in range(5)])
        small = await _sql(pg, reltuples)
        fire = [InvestorTask("reconcile", f"u{i}", "recon", FIRE) for i in range(ANALYZE_AFTER)]
        await engine.submit(fire)
        large = await _sql(pg, reltuples)

    assert small == [(-1.0,)]  # never analyzed: the planner knows nothing of the rows
    assert large == [(float(ANALYZE_AFTER + 5),)]


def _release(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, sql in files.items():
        (tmp_path / name).write_text(sql, encoding="utf-8")
    return tmp_path


async def _stamp(db: Database) -> object:
    rows = await _sql(db, "SELECT obj_description('procrastinate_jobs'::regclass, 'pg_class')")
    return rows[0][0]


@pytest.mark.postgres
async def test_db_upgrade_applies_procrastinates_migrations_once_and_stamps_the_release(
    pg: Database, tmp_path: Path
) -> None:
    assert await _stamp(pg) == f"procrastinate {PINNED}"  # created by the fixture's upgrade
    assert await apply_schema(pg.url, search_path=pg.search_path) == (
        f"current at procrastinate {PINNED}"
    )
    migrations = _release(
        tmp_path,
        {
            # Already part of the applied release, and beyond the pinned one: never run.
            "03.10.00_01_pre_old.sql": "SELECT 1/0;",
            "03.11.00_01_pre_future.sql": "SELECT 1/0;",
            "03.10.01_01_pre_marker.sql": "CREATE TABLE procrastinate_marker (n int);"
            " INSERT INTO procrastinate_marker VALUES (1);",
            "03.10.01_50_post_marker.sql": "INSERT INTO procrastinate_marker VALUES (2);",
        },
    )
    done = await apply_schema(
        pg.url, search_path=pg.search_path, pinned="3.10.1", migrations=migrations
    )
    assert done == "upgraded from procrastinate 3.10.0 to 3.10.1 (2 migrations)"
    assert await _sql(pg, "SELECT n FROM procrastinate_marker ORDER BY n") == [(1,), (2,)]
    assert await _stamp(pg) == "procrastinate 3.10.1"
    again = await apply_schema(
        pg.url, search_path=pg.search_path, pinned="3.10.1", migrations=migrations
    )
    assert again == "current at procrastinate 3.10.1"
    # An older release of the service refuses a schema a newer one made.
    with pytest.raises(ConfigError, match=r"3\.10\.1, newer than this release's 3\.10\.0"):
        await apply_schema(pg.url, search_path=pg.search_path, pinned="3.10.0")


@pytest.mark.postgres
async def test_a_failing_release_leaves_the_schema_at_the_last_complete_one(
    pg: Database, tmp_path: Path
) -> None:
    # A schema from before stamping is taken as the release pinned then.
    await _sql(pg, "COMMENT ON TABLE procrastinate_jobs IS NULL")
    migrations = _release(
        tmp_path,
        {
            "03.10.01_01_pre_marker.sql": "CREATE TABLE procrastinate_marker (n int);",
            "03.10.02_01_pre_half.sql": "INSERT INTO procrastinate_marker VALUES (1);",
            "03.10.02_50_post_broken.sql": "SELECT 1/0;",
        },
    )
    with pytest.raises(psycopg.errors.DivisionByZero):
        await apply_schema(
            pg.url, search_path=pg.search_path, pinned="3.10.2", migrations=migrations
        )
    assert await _stamp(pg) == "procrastinate 3.10.1"
    assert await _sql(pg, "SELECT count(*) FROM procrastinate_marker") == [(0,)]
