"""An app-key token shared by every process through an encrypted vault (the brokers' shape).

Brokers that issue one bearer token per app key (KIS, Kiwoom) limit or notify each issuance, so
a token is issued only when neither this process nor the vault holds one valid for longer than
the refresh margin, under a cross-process lock (another process may have issued while this one
waited), and reused across restarts until its expiry. A token the broker refused is never handed
out again: `renew(rejected)` drops it from the vault before issuing, unless another process has
already stored a different one.

How a token is issued (its request, its throttling, its reply) is the vendor's: the adapter's
token class subclasses `VaultedToken` and implements `_issue`. Tokens are never logged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from orchestrator.domain.errors import SourceUnavailable
from orchestrator.ports import Clock


@dataclass(frozen=True, slots=True)
class IssuedToken:
    value: str
    expires_at: datetime


class TokenVault(Protocol):
    """Encrypted key/value storage shared by processes, plus a cross-process named lock.

    Shaped like `adapters.db.secrets.SecretStore` (+ `adapters.db.locks.NamedLocks.lock`), so
    the composition root can hand in `adapters.db.locks.LockedSecrets`.
    """

    async def get(self, key: str) -> tuple[str, datetime | None, dict[str, Any]] | None:
        """(value, expires_at, meta) or None."""
        ...

    async def put(
        self,
        key: str,
        value: str,
        *,
        now: datetime,
        expires_at: datetime | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None: ...

    async def delete(self, key: str) -> None: ...

    def lock(self, name: str) -> AbstractAsyncContextManager[None]:
        """Held by one process at a time; may raise TimeoutError when waiting too long."""
        ...


class VaultedToken:
    """One app key's token: from memory, then the vault, then `_issue` under the vault's lock.

    `key` names the vault row (vendor, environment, key fingerprint), `lock` the cross-process
    lock; `meta` is stored with the row (never secret). `source` names the upstream in errors.
    `issued` counts the tokens this instance obtained upstream (for status and tests).
    """

    def __init__(
        self,
        vault: TokenVault,
        *,
        key: str,
        lock: str,
        meta: Mapping[str, str],
        margin: timedelta,
        clock: Clock,
        source: str,
    ) -> None:
        self._vault = vault
        self._key = key
        self._lock = lock
        self._meta = dict(meta)
        self._margin = margin
        self._clock = clock
        self._source = source
        self._memo: IssuedToken | None = None
        self._local = asyncio.Lock()
        self.issued = 0

    async def _issue(self) -> IssuedToken:
        """Obtain a new token upstream (called under the vault's lock; the vendor's part)."""
        raise NotImplementedError

    @property
    def vault_key(self) -> str:
        return self._key

    async def current(self) -> str:
        """A token valid for at least the refresh margin."""
        memo = self._memo
        if memo is not None and self._usable(memo):
            return memo.value
        async with self._local:
            return await self._obtain(rejected=None)

    async def renew(self, rejected: str) -> str:
        """A token other than `rejected` (refused upstream): one another process stored, or new."""
        async with self._local:
            memo = self._memo
            if memo is not None and memo.value != rejected and self._usable(memo):
                return memo.value  # another caller here renewed it meanwhile
            self._memo = None
            return await self._obtain(rejected=rejected)

    async def discard(self, then: Callable[[str], Awaitable[object]] | None = None) -> None:
        """Forget the token here and in the vault; `then(token)` runs on the stored token (e.g.
        revoking it upstream) before any other caller of this instance can obtain a new one."""
        async with self._local:
            found = await self._vault.get(self._key)
            self._memo = None
            await self._vault.delete(self._key)
            if found is not None and then is not None:
                await then(found[0])

    async def _obtain(self, *, rejected: str | None) -> str:
        memo = self._memo
        if memo is not None and memo.value != rejected and self._usable(memo):
            return memo.value
        stored = await self._stored(rejected)
        if stored is None:
            try:
                async with self._vault.lock(self._lock):
                    # Another process may have issued while we waited for the lock.
                    stored = await self._stored(rejected)
                    if stored is None:
                        if rejected is not None:
                            # Nobody else should pick up a token the upstream has refused.
                            await self._vault.delete(self._key)
                        stored = await self._issue()
                        self.issued += 1
                        await self._vault.put(
                            self._key,
                            stored.value,
                            now=self._clock.now(),
                            expires_at=stored.expires_at,
                            meta=dict(self._meta),
                        )
            except TimeoutError as e:
                raise SourceUnavailable(
                    self._source, "another process holds the token lock for too long"
                ) from e
        self._memo = stored
        return stored.value

    async def _stored(self, rejected: str | None) -> IssuedToken | None:
        found = await self._vault.get(self._key)
        if found is None:
            return None
        value, expires_at, _meta = found
        if expires_at is None or value == rejected:
            return None
        token = IssuedToken(value, expires_at)
        return token if self._usable(token) else None

    def _usable(self, token: IssuedToken) -> bool:
        return token.expires_at - self._margin > self._clock.now()
