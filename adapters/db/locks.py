"""Cross-process named locks on the database the processes share, and a locking secret vault.

PostgreSQL: `pg_try_advisory_xact_lock(key)` inside a transaction on a dedicated connection
(key = first 8 bytes of SHA-256 of the name). The lock ends with the transaction, so it is
released on exit, on error, on cancellation and when the connection or process dies; trying
(rather than blocking in the server) keeps a cancelled waiter from leaving a lock behind.

SQLite: an exclusive `flock` on a file beside the database (`<db>.locks/<sha>.lock`). SQLite is
one host by nature, so a host-wide lock is the exact equivalent; the kernel releases it when the
process dies. Not `BEGIN IMMEDIATE`: that takes the database's single write lock, so every
other writer (the holder's own vault write included, on its separate connection) would stall
for as long as the lock is held, e.g. while a token issuance waits out a one-minute throttle.
An in-memory SQLite database is private to one process, so a process-local lock suffices.

In every case waiters in one process queue on an asyncio.Lock first, so only one of them polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url

from adapters.db.engine import Database
from adapters.db.secrets import SecretStore

Sleep = Callable[[float], Awaitable[None]]


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for `name` (pg advisory locks take bigint)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def _try_flock(path: Path) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


def _release_flock(fd: int) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


class NamedLocks:
    """`lock(name)`: held by one process (and one task) at a time across everything sharing
    the database. Raises TimeoutError after `timeout_seconds` of waiting (None: wait forever).
    """

    def __init__(
        self,
        db: Database,
        *,
        timeout_seconds: float | None = 180.0,
        poll_seconds: float = 0.05,
        sleep: Sleep = asyncio.sleep,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._timeout = timeout_seconds
        self._poll = poll_seconds
        self._sleep = sleep
        self._timer = timer
        self._local: dict[str, asyncio.Lock] = {}
        self._dir = self._lock_dir(db)

    @staticmethod
    def _lock_dir(db: Database) -> Path | None:
        url = make_url(db.url)
        if url.get_backend_name() != "sqlite":
            return None
        if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
            return None
        return Path(url.database).with_name(Path(url.database).name + ".locks")

    def lock(self, name: str) -> AbstractAsyncContextManager[None]:
        return self._held(name)

    @contextlib.asynccontextmanager
    async def _held(self, name: str) -> AsyncIterator[None]:
        deadline = None if self._timeout is None else self._timer() + self._timeout
        local = self._local.setdefault(name, asyncio.Lock())
        try:
            if self._timeout is None:
                await local.acquire()
            else:
                async with asyncio.timeout(self._timeout):
                    await local.acquire()
        except TimeoutError:
            raise TimeoutError(f"lock {name!r} busy in this process") from None
        try:
            if self._db.dialect == "postgresql":
                async with self._pg(name, deadline):
                    yield
            elif self._dir is not None:
                async with self._file(name, deadline):
                    yield
            else:
                yield
        finally:
            local.release()

    def _expired(self, deadline: float | None) -> bool:
        return deadline is not None and self._timer() >= deadline

    @contextlib.asynccontextmanager
    async def _pg(self, name: str, deadline: float | None) -> AsyncIterator[None]:
        key = advisory_key(name)
        async with self._db.engine.connect() as conn:
            try:
                while True:
                    got = (
                        await conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": key})
                    ).scalar_one()
                    if got:
                        break
                    if self._expired(deadline):
                        raise TimeoutError(f"lock {name!r} held by another process")
                    await self._sleep(self._poll)
                yield
            finally:
                # Ending the transaction releases the lock (and any failed statement state).
                await conn.rollback()

    @contextlib.asynccontextmanager
    async def _file(self, name: str, deadline: float | None) -> AsyncIterator[None]:
        assert self._dir is not None
        self._dir.mkdir(parents=True, exist_ok=True)
        path = self._dir / (hashlib.sha256(name.encode()).hexdigest()[:32] + ".lock")
        while True:
            fd = _try_flock(path)
            if fd is not None:
                break
            if self._expired(deadline):
                raise TimeoutError(f"lock {name!r} held by another process")
            await self._sleep(self._poll)
        try:
            yield
        finally:
            _release_flock(fd)


class LockedSecrets:
    """A SecretStore plus NamedLocks behind one object: what token holders (e.g.
    `adapters.kis.auth.TokenVault`) need to share one encrypted token across processes."""

    def __init__(self, store: SecretStore, locks: NamedLocks) -> None:
        self._store = store
        self._locks = locks

    async def get(self, key: str) -> tuple[str, datetime | None, dict[str, Any]] | None:
        return await self._store.get(key)

    async def put(
        self,
        key: str,
        value: str,
        *,
        now: datetime,
        expires_at: datetime | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        await self._store.put(key, value, now=now, expires_at=expires_at, meta=meta)

    async def delete(self, key: str) -> None:
        await self._store.delete(key)

    def lock(self, name: str) -> AbstractAsyncContextManager[None]:
        return self._locks.lock(name)
