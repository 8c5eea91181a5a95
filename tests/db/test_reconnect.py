"""Pooled connections without a pre-ping (adapters/db/engine.py): a connection the server
dropped costs at most the one operation that meets it; the pool then reconnects by itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import exc, text

from adapters.db.engine import Database
from tests.support.databases import fresh_database


@pytest.fixture
async def pg(tmp_path: Path) -> AsyncIterator[Database]:
    async with fresh_database("postgres", tmp_path) as db:
        yield db


async def _pid(db: Database) -> int:
    async with db.session() as session:
        return int((await session.execute(text("SELECT pg_backend_pid()"))).scalar_one())


@pytest.mark.postgres
async def test_a_dropped_connection_fails_one_operation_then_the_pool_reconnects(
    pg: Database,
) -> None:
    first = await _pid(pg)
    admin = Database(pg.url)
    try:
        async with admin.session() as session:
            await session.execute(text("SELECT pg_terminate_backend(:p)"), {"p": first})
    finally:
        await admin.dispose()

    failures: list[exc.DBAPIError] = []
    pids = []
    for _ in range(3):
        try:
            pids.append(await _pid(pg))
        except exc.DBAPIError as e:
            failures.append(e)
    assert len(failures) <= 1
    assert all(e.connection_invalidated for e in failures)
    assert len(pids) >= 2
    assert first not in pids


@pytest.mark.postgres
async def test_autocommit_sessions_commit_each_statement_and_see_committed_rows(
    pg: Database,
) -> None:
    """A write in an autocommit session is visible to other connections at once, even while
    the block is still open; a failing statement leaves the earlier ones committed."""
    async with pg.session() as session:
        await session.execute(text("CREATE TABLE t_auto (n int PRIMARY KEY)"))
    seen = None
    async with pg.autocommit() as session:
        await session.execute(text("INSERT INTO t_auto VALUES (1)"))
        async with pg.session() as other:
            seen = (await other.execute(text("SELECT count(*) FROM t_auto"))).scalar_one()
        again = session.execute(text("INSERT INTO t_auto VALUES (1)"))
        with pytest.raises(exc.IntegrityError):
            await again
    assert seen == 1
    async with pg.session() as session:
        assert (await session.execute(text("SELECT count(*) FROM t_auto"))).scalar_one() == 1
