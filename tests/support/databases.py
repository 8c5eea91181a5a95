"""Test databases: a fresh SQLite file, or a fresh schema on the real PostgreSQL.

PostgreSQL tests run wherever the server answers; with CI=true a missing server is a failure, not
a skip (the store suite must be proven on both engines in CI).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import event

from adapters.db import migrate
from adapters.db.engine import Database
from adapters.db.secrets import TokenCipher

PG_URL = os.environ.get("TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


async def _pg_up() -> str | None:
    import asyncpg

    dsn = PG_URL.replace("postgresql+asyncpg://", "postgresql://")
    try:
        conn = await asyncio.wait_for(asyncpg.connect(dsn), timeout=3)
    except (TimeoutError, OSError, asyncpg.PostgresError) as e:
        return f"{type(e).__name__}: {e}"
    await conn.close()
    return None


async def require_postgres() -> None:
    problem = await _pg_up()
    if problem is None:
        return
    if IN_CI:
        pytest.fail(f"PostgreSQL at {PG_URL} is required in CI: {problem}")
    pytest.skip(f"PostgreSQL not reachable at {PG_URL} (not CI, so skipping): {problem}")


@asynccontextmanager
async def fresh_database(
    kind: str, tmp_path: Path, *, migrate_up: bool = True
) -> AsyncIterator[Database]:
    """A migrated, empty database of `kind` ("sqlite" or "postgres"), dropped afterwards."""
    if kind == "sqlite":
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")
        try:
            if migrate_up:
                await migrate.upgrade(db)
            yield db
        finally:
            await db.dispose()
        return
    await require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = Database(PG_URL)
    async with admin.engine.begin() as conn:
        await conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    db = Database(PG_URL, connect_args={"server_settings": {"search_path": schema}})
    try:
        if migrate_up:
            await migrate.upgrade(db)
        yield db
    finally:
        await db.dispose()
        async with admin.engine.begin() as conn:
            await conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.dispose()


# A fixed Fernet key for tests that need the journal's account-number cipher.
FERNET_KEY_FOR_TESTS = "dGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktdGVzdDE="


def cipher_for_tests() -> TokenCipher:
    return TokenCipher([SecretStr(FERNET_KEY_FOR_TESTS)])


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    """The SQL every statement sent to the database while the block runs."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)
