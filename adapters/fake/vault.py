"""An in-memory TokenVault: what the adapter stored, and a per-name asyncio lock."""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any


class FakeTokenVault:
    """`adapters.http.tokens.TokenVault` in memory; `rows` is what was stored, by key. The locks
    are per process (one event loop), which is all a single-process test can race."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[str, datetime | None, dict[str, Any]]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, key: str) -> tuple[str, datetime | None, dict[str, Any]] | None:
        return self.rows.get(key)

    async def put(
        self,
        key: str,
        value: str,
        *,
        now: datetime,
        expires_at: datetime | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.rows[key] = (value, expires_at, dict(meta or {}))

    async def delete(self, key: str) -> None:
        self.rows.pop(key, None)

    def lock(self, name: str) -> AbstractAsyncContextManager[None]:
        return self._locks.setdefault(name, asyncio.Lock())
