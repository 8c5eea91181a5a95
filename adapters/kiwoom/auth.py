"""Access tokens: one per environment and app key, shared by processes through an encrypted vault.

Kiwoom tokens carry a KST `expires_dt` and no refresh token (digest §2.2). A token is cached per
environment AND key (a shared cache is how field clients end up sending a mock token to the
real host: `8031`), reused until `token_refresh_margin_seconds` before expiry (the official
client re-issues 600 s early), and re-issued once when Kiwoom refuses it (8005/8031/401 and the
other RENEW codes): the client then resends the request once.

Tokens and keys are never logged; logs name the app key by its fingerprint.
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog

from adapters.http import ResilientClient
from adapters.kiwoom import mapping
from adapters.kiwoom.endpoints import REVOKE, TOKEN
from adapters.kiwoom.errors import boundary, translator
from adapters.kiwoom.mapping import IssuedToken
from adapters.kiwoom.schemas import TokenReply, parse_json
from adapters.kiwoom.settings import KiwoomSettings
from orchestrator.domain.errors import SourceUnavailable
from orchestrator.ports import Clock

log = structlog.get_logger(__name__)


class TokenVault(Protocol):
    """Encrypted key/value storage shared by processes, plus a cross-process named lock
    (the shape of `adapters.db.locks.LockedSecrets`)."""

    async def get(self, key: str) -> tuple[str, datetime | None, dict[str, Any]] | None: ...

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

    def lock(self, name: str) -> AbstractAsyncContextManager[None]: ...


class KiwoomTokens:
    """Hands out a valid token for one app key, issuing one only when none is stored."""

    def __init__(
        self,
        settings: KiwoomSettings,
        http: ResilientClient,
        vault: TokenVault,
        *,
        clock: Clock,
        source: str = "kiwoom",
    ) -> None:
        self._settings = settings
        self._http = http
        self._vault = vault
        self._clock = clock
        self._source = source
        self._margin = timedelta(seconds=settings.token_refresh_margin_seconds)
        self._key = f"kiwoom.token.{settings.env}.{settings.fingerprint}"
        self._memo: IssuedToken | None = None
        self._local = asyncio.Lock()
        self.issued = 0

    @property
    def vault_key(self) -> str:
        return self._key

    async def current(self) -> str:
        memo = self._memo
        if memo is not None and self._usable(memo):
            return memo.value
        async with self._local:
            return await self._obtain(rejected=None)

    async def renew(self, rejected: str) -> str:
        """A token other than `rejected`: one another process stored, or a new one."""
        async with self._local:
            memo = self._memo
            if memo is not None and memo.value != rejected and self._usable(memo):
                return memo.value
            self._memo = None
            return await self._obtain(rejected=rejected)

    async def revoke(self) -> None:
        """au10002 for the token in use, then forget it (here and in the vault)."""
        async with self._local:
            found = await self._vault.get(self._key)
            self._memo = None
            await self._vault.delete(self._key)
            if found is None:
                return
            settings = self._settings
            await self._http.call(
                "POST",
                settings.host + REVOKE.path,
                endpoint=f"kiwoom.{REVOKE.name}",
                translate=translator(self._source),
                json=mapping.revoke_body(
                    settings.app_key.get_secret_value(),
                    settings.secret_key.get_secret_value(),
                    found[0],
                ),
                headers=mapping.headers(REVOKE.api_id, None),
                timeout=settings.http_timeout(),
            )
            log.info("kiwoom.token_revoked", app=settings.fingerprint, env=settings.env)

    async def _obtain(self, *, rejected: str | None) -> str:
        memo = self._memo
        if memo is not None and memo.value != rejected and self._usable(memo):
            return memo.value
        stored = await self._stored(rejected)
        if stored is None:
            try:
                async with self._vault.lock(f"kiwoom-token:{self._settings.fingerprint}"):
                    stored = await self._stored(rejected)
                    if stored is None:
                        if rejected is not None:
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
        response = await self._http.call(
            "POST",
            settings.host + TOKEN.path,
            endpoint=f"kiwoom.{TOKEN.name}",
            translate=translator(self._source),
            json=mapping.token_body(
                settings.app_key.get_secret_value(), settings.secret_key.get_secret_value()
            ),
            headers=mapping.headers(TOKEN.api_id, None),
            timeout=settings.http_timeout(),
        )
        with boundary(self._source):
            token = mapping.token_from(TokenReply.parse(parse_json(response.content)))
        self.issued += 1
        log.info(
            "kiwoom.token_issued",
            app=settings.fingerprint,
            env=settings.env,
            token_expires_at=token.expires_at.isoformat(),
        )
        return token
