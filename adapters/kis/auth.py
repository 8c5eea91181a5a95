"""Access tokens: one per app key, shared by every process through an encrypted vault.

KIS allows one issuance per minute per app key (EGW00133, spec §2.1) and notifies the user by
KakaoTalk on each, so a token is issued only when the vault holds none that is still valid,
under a cross-process lock, and reused across restarts until its KST expiry
(`access_token_token_expired`). EGW00133 is waited out, not failed. When KIS calls a token
invalid or expired (EGW00121/EGW00123) the client asks `renew()` once.

Tokens and app keys are never logged; logs name the app key by its fingerprint.
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog

from adapters.http import ResilientClient
from adapters.http.limiter import Sleep
from adapters.kis import mapping
from adapters.kis.endpoints import TOKEN
from adapters.kis.errors import TokenThrottled, boundary, translator
from adapters.kis.mapping import IssuedToken
from adapters.kis.schemas import TokenReply, parse_json
from adapters.kis.settings import KisSettings
from orchestrator.domain.errors import SourceUnavailable
from orchestrator.ports import Clock

log = structlog.get_logger(__name__)


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


class KisTokens:
    """Hands out a valid access token for one app key, issuing one only when none is stored."""

    def __init__(
        self,
        settings: KisSettings,
        http: ResilientClient,
        vault: TokenVault,
        *,
        clock: Clock,
        sleep: Sleep,
        source: str = "kis",
    ) -> None:
        self._settings = settings
        self._http = http
        self._vault = vault
        self._clock = clock
        self._sleep = sleep
        self._source = source
        self._margin = timedelta(seconds=settings.token_refresh_margin_seconds)
        self._key = f"kis.token.{settings.env}.{settings.fingerprint}"
        self._memo: IssuedToken | None = None
        self._local = asyncio.Lock()
        self.issued = 0  # tokens this instance obtained from tokenP (for status and tests)

    @property
    def vault_key(self) -> str:
        return self._key

    async def current(self) -> str:
        """A token valid for at least the refresh margin: memory, then vault, then tokenP."""
        memo = self._memo
        if memo is not None and self._usable(memo):
            return memo.value
        async with self._local:
            return await self._obtain(rejected=None)

    async def renew(self, rejected: str) -> str:
        """A token other than `rejected` (refused by KIS): one another process stored, or new."""
        async with self._local:
            memo = self._memo
            if memo is not None and memo.value != rejected and self._usable(memo):
                return memo.value
            self._memo = None
            return await self._obtain(rejected=rejected)

    async def _obtain(self, *, rejected: str | None) -> str:
        memo = self._memo
        if memo is not None and self._usable(memo):
            return memo.value
        stored = await self._stored(rejected)
        if stored is None:
            try:
                async with self._vault.lock(f"kis-token:{self._settings.fingerprint}"):
                    # Another process may have issued while we waited for the lock.
                    stored = await self._stored(rejected)
                    if stored is None:
                        if rejected is not None:
                            # Nobody else should pick up a token KIS has refused.
                            await self._vault.delete(self._key)
                        stored = await self._issue()
                        await self._vault.put(
                            self._key,
                            stored.value,
                            now=self._clock.now(),
                            expires_at=stored.expires_at,
                            meta={"env": self._settings.env, "app": self._settings.fingerprint},
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

    async def _issue(self) -> IssuedToken:
        settings = self._settings
        key, secret = settings.app_key.get_secret_value(), settings.app_secret.get_secret_value()
        waited = 0.0
        while True:
            try:
                response = await self._http.call(
                    "POST",
                    settings.host + TOKEN.path,
                    endpoint=f"kis.{TOKEN.name}",
                    translate=translator(self._source),
                    json=mapping.token_body(key, secret),
                    headers=mapping.headers(app_key=key, app_secret=secret),
                    timeout=settings.http_timeout(),
                )
            except TokenThrottled as e:
                wait = e.retry_after or 60.0
                if waited + wait > settings.token_wait_max_seconds:
                    raise
                log.warning(
                    "kis.token_throttled",
                    app=settings.fingerprint,
                    wait_seconds=wait,
                    waited_seconds=waited,
                )
                await self._sleep(wait)
                waited += wait
                continue
            with boundary(self._source):
                token = mapping.token_from(
                    TokenReply.parse(parse_json(response.content)), self._clock.now()
                )
            self.issued += 1
            log.info(
                "kis.token_issued",
                app=settings.fingerprint,
                env=settings.env,
                token_expires_at=token.expires_at.isoformat(),
            )
            return token
