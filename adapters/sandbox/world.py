"""Durable sandbox worlds: a sandbox app's whole state kept in one SQLite file across restarts.

    store = WorldStore.open(Path("var/orchestrator-sandbox.db"))   # takes the file's lock
    app = durable(create_app(...), store, "kis-real", attrs=("broker",))

The wrapper is generic: it pickles the named `app.state` attributes (a KIS `Broker`, an
open-banking `Relay`) as whole object graphs, so any state a sandbox keeps inside its state object
(accounts, orders and the order-number sequence, fills, tokens and their limits, consents,
bank_tran_ids, the clock's offset, and whatever is added later) persists with no extra code.

Crash safety: the state is written in one SQLite transaction (WAL) *before* the first byte of a
response leaves, so a reply the client saw is never lost by kill -9. A request that ends without
a reply (the faults that book an order and then drop the connection) is saved as it ends.
Only changed states are written (the pickled bytes are compared with the last ones saved).

A world saved by a sandbox whose classes have a different shape (attributes added or removed)
is refused with `WorldMismatch` rather than half-loaded; `orchestrator demo reset` starts over.
The pickles are written and read only by this process's own code, in a file under `var/`.
"""

from __future__ import annotations

import copy
import dataclasses
import fcntl
import os
import pickle
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_SCHEMA = """
CREATE TABLE IF NOT EXISTS worlds (
    name TEXT PRIMARY KEY,
    state BLOB NOT NULL,
    saves INTEGER NOT NULL
)
"""


class WorldError(Exception):
    """A sandbox world cannot be opened; the message says what to do."""


class WorldBusy(WorldError):
    """Another process holds the world (a running service or sandbox)."""


class WorldMismatch(WorldError):
    """The stored world was written by a sandbox of a different shape."""


class WorldStore:
    """One SQLite file of named worlds, held exclusively by this process (an `flock` beside it)."""

    def __init__(self, path: Path, conn: sqlite3.Connection, lock_fd: int) -> None:
        self.path = path
        self._conn = conn
        self._lock_fd = lock_fd
        self._last: dict[str, bytes] = {}

    @classmethod
    def open(cls, path: Path) -> WorldStore:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = lock_file(path)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise WorldBusy(
                f"the sandbox world {path} is in use by another process (pid {holder}); "
                "stop it, or talk to the service it belongs to"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            # WAL with synchronous=NORMAL: a committed transaction survives the process being
            # killed (kill -9); only a power cut could lose the last one.
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(_SCHEMA)
        except sqlite3.Error as e:
            os.close(fd)
            raise WorldError(f"the sandbox world {path} cannot be opened: {e}") from None
        return cls(path, conn, fd)

    def load(self, name: str) -> bytes | None:
        row = self._conn.execute("SELECT state FROM worlds WHERE name = ?", (name,)).fetchone()
        if row is None:
            return None
        blob = bytes(row[0])
        self._last[name] = blob
        return blob

    def save(self, name: str, blob: bytes) -> bool:
        """Write `blob` unless it is what was last written; True when it was written."""
        if self._last.get(name) == blob:
            return False
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.execute(
                "INSERT INTO worlds (name, state, saves) VALUES (?, ?, 1) "
                "ON CONFLICT(name) DO UPDATE SET state = excluded.state, saves = saves + 1",
                (name, blob),
            )
        self._last[name] = blob
        return True

    def names(self) -> list[str]:
        return [r[0] for r in self._conn.execute("SELECT name FROM worlds ORDER BY name")]

    def wipe(self) -> None:
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.execute("DELETE FROM worlds")
        self._last.clear()

    def close(self) -> None:
        if self._lock_fd < 0:
            return
        self._conn.close()
        fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        os.close(self._lock_fd)
        self._lock_fd = -1


def lock_file(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def _attrs_of(obj: object) -> frozenset[str] | None:
    names: set[str] = set()
    if hasattr(obj, "__dict__"):
        names.update(vars(obj))
    for klass in type(obj).__mro__:
        for slot in getattr(klass, "__slots__", ()):
            if hasattr(obj, slot):
                names.add(slot)
    return frozenset(names)


def shape(root: object, package: str = "adapters.sandbox") -> dict[str, frozenset[str]]:
    """Class -> attribute names of every object of `package` reachable from `root`."""
    found: dict[str, frozenset[str]] = {}
    for obj in _reachable(root, package):
        name = f"{type(obj).__module__}.{type(obj).__qualname__}"
        found[name] = found.get(name, frozenset()) | (_attrs_of(obj) or frozenset())
    return found


def _reachable(root: object, package: str) -> Iterable[object]:
    """Every object of `package` reachable from `root` (through containers and attributes)."""
    seen: set[int] = set()
    stack: list[object] = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, (str, bytes, int, float, bool)) or obj is None:
            continue
        seen.add(id(obj))
        if isinstance(obj, dict):
            stack.extend([*obj.keys(), *obj.values()])
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend(obj)
        elif type(obj).__module__.startswith(package):
            yield obj
            stack.extend(getattr(obj, a) for a in _attrs_of(obj) or ())


def added_fields(root: object, package: str = "adapters.sandbox") -> int:
    """Give stored dataclass objects the fields added since they were saved, where the new
    field has a default: a world saved by an older sandbox version then keeps working after an
    upgrade instead of needing `demo reset`. A field without a default, or one that was
    removed, is still a mismatch (the world cannot be trusted). Returns how many were filled."""
    filled = 0
    for obj in list(_reachable(root, package)):
        if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
            continue
        present = _attrs_of(obj) or frozenset()
        for f in dataclasses.fields(obj):
            if f.name in present:
                continue
            if f.default is not dataclasses.MISSING:
                value: object = copy.copy(f.default)
            elif f.default_factory is not dataclasses.MISSING:
                value = f.default_factory()
            else:
                continue
            object.__setattr__(obj, f.name, value)  # frozen dataclasses too
            filled += 1
    return filled


def _mismatch(stored: dict[str, frozenset[str]], fresh: dict[str, frozenset[str]]) -> str | None:
    for name in sorted(set(stored) & set(fresh)):
        missing, extra = fresh[name] - stored[name], stored[name] - fresh[name]
        if missing:
            return f"{name} lacks {', '.join(sorted(missing))}"
        if extra:
            return f"{name} has unknown {', '.join(sorted(extra))}"
    return None


class DurableApp:
    """An ASGI sandbox app whose `app.state` attributes `attrs` are kept in a `WorldStore`."""

    def __init__(self, app: Any, store: WorldStore, name: str, attrs: tuple[str, ...]) -> None:
        self.app = app
        self.store = store
        self.name = name
        self.attrs = attrs
        self.restored = False
        blob = store.load(name)
        if blob is None:
            self.save()
            return
        fresh = {a: getattr(app.state, a) for a in attrs}
        try:
            stored = pickle.loads(blob)
        except Exception as e:  # an unpickle of a moved class fails in many ways
            raise WorldMismatch(self._refusal(f"it cannot be read ({e})")) from None
        if not isinstance(stored, dict) or set(stored) != set(attrs):
            raise WorldMismatch(self._refusal("it holds other state objects"))
        added_fields(stored)
        problem = _mismatch(shape(stored), shape(fresh))
        if problem is not None:
            raise WorldMismatch(
                self._refusal(f"it was saved by another sandbox version: {problem}")
            )
        for attr, value in stored.items():
            setattr(app.state, attr, value)
        self.restored = True

    def _refusal(self, why: str) -> str:
        return (
            f"sandbox world {self.name!r} in {self.store.path}: {why}; "
            "`orchestrator demo reset` starts a fresh world"
        )

    @property
    def state(self) -> Any:
        return self.app.state

    def save(self) -> bool:
        state = {a: getattr(self.app.state, a) for a in self.attrs}
        return self.store.save(self.name, pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        saved = False

        async def save_then_send(message: Message) -> None:
            nonlocal saved
            if message["type"] == "http.response.start" and not saved:
                # Before the reply leaves: what the client is told is what a restart finds.
                saved = True
                self.save()
            await send(message)

        try:
            await self.app(scope, receive, save_then_send)
        finally:
            if not saved:
                self.save()


def durable(app: ASGIApp, store: WorldStore, name: str, attrs: tuple[str, ...]) -> DurableApp:
    """Wrap `app` so that its state attributes `attrs` live in `store` under `name`."""
    return DurableApp(app, store, name, attrs)
