"""The single-instance guard of a SQLite deployment: one `serve` per database file.

SQLite has one writer and no advisory locks shared between hosts, so a second service on the same
file would run its own recovery and reconciliation against the first one's orders. The guard is
an exclusive `flock` on `<db>.serve.lock` (released by the kernel if the process dies, kill -9
included); the file records the holder's pid and API URL, which the CLI reads to find the
service that owns the database. PostgreSQL deployments run replicas and need no guard.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Holder:
    pid: int | None
    url: str | None


def guard_file(db_file: Path) -> Path:
    return db_file.with_name(db_file.name + ".serve.lock")


class InstanceGuard:
    """Held for the life of `serve`; `close()` releases it."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd = fd

    @classmethod
    def acquire(cls, db_file: Path, url: str) -> InstanceGuard | Holder:
        """The guard, or who holds it (nothing is changed then)."""
        path = guard_file(db_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            os.close(fd)
            return holder
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "url": url}).encode(), 0)
        return cls(path, fd)

    def close(self) -> None:
        if self._fd < 0:
            return
        os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = -1


def running_holder(db_file: Path) -> Holder | None:
    """Who holds the guard of `db_file` right now, or None when no service does."""
    path = guard_file(db_file)
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDWR)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _read(fd: int) -> Holder:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except ValueError:
        data = {}
    pid, url = data.get("pid"), data.get("url")
    return Holder(pid if isinstance(pid, int) else None, url if isinstance(url, str) else None)


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL (None for PostgreSQL or an in-memory SQLite). Here, not
    in bootstrap, so the CLI can find a running service without importing the whole service."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)
