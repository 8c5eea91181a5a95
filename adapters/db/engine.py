"""Async engine and sessions for SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the API read while the scheduler writes; busy_timeout turns lock contention into
    # a short wait instead of "database is locked".
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_engine(
    url: str, *, echo: bool = False, connect_args: dict[str, Any] | None = None
) -> AsyncEngine:
    """Engine for `url`; creates the SQLite file's directory when needed."""
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo, "connect_args": connect_args or {}}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    else:
        # No pre-ping: on asyncpg it costs three round trips (BEGIN, ";", ROLLBACK) on every
        # checkout, more than most of our sessions' own work. Disconnects are handled the
        # optimistic way instead: the operation that meets a dropped connection fails (its
        # transaction was lost anyway), SQLAlchemy then invalidates the whole pool, and the
        # next session connects afresh. Recycling bounds a connection's age below the idle
        # timeouts of proxies and firewalls in between.
        kwargs["pool_recycle"] = 1800
    engine = create_async_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


class Database:
    """Owns the engine; hands out sessions whose transaction commits on success."""

    def __init__(
        self, url: str, *, echo: bool = False, connect_args: dict[str, Any] | None = None
    ) -> None:
        self.url = url
        # Where the tables live on PostgreSQL when not in the default schema (tests, tenants):
        # other clients of the same database (the task engine) must use the same one.
        settings = (connect_args or {}).get("server_settings", {})
        self.search_path: str | None = settings.get("search_path")
        self.engine = create_engine(url, echo=echo, connect_args=connect_args)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # Same pool, no transaction: see `autocommit`.
        self._autocommit = (
            self._sessions
            if self.dialect == "sqlite"
            else async_sessionmaker(
                self.engine.execution_options(isolation_level="AUTOCOMMIT"),
                expire_on_commit=False,
            )
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def insert(self, table: Any) -> Any:
        """An INSERT of this database's dialect, which has `on_conflict_do_nothing` (and
        `on_conflict_do_update`) on both SQLite and PostgreSQL."""
        return postgresql.insert(table) if self.dialect == "postgresql" else sqlite.insert(table)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction: committed when the block succeeds, rolled back otherwise."""
        async with self._sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AsyncSession]:
        """A session for work that needs no transaction around it: reads, or a single write
        statement (atomic by itself). On PostgreSQL each statement commits on its own, so the
        block costs one round trip per statement instead of BEGIN + statements + COMMIT; under
        READ COMMITTED a transaction would give a series of reads no common snapshot anyway.
        On SQLite it is an ordinary session (one writer, no round trips to save)."""
        if self._autocommit is self._sessions:
            async with self.session() as session:
                yield session
            return
        # begin() only gives the ORM its flush-and-commit at the end of the block: under
        # AUTOCOMMIT no BEGIN or COMMIT reaches the server.
        async with self._autocommit() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
