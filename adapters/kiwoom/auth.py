"""Access tokens: one per environment and app key, shared by processes through an encrypted vault.

Kiwoom tokens carry a KST `expires_dt` and no refresh token (digest §2.2). A token is cached per
environment AND key (a shared cache is how field clients end up sending a mock token to the
real host: `8031`), reused until `token_refresh_margin_seconds` before expiry (the official
client re-issues 600 s early), and re-issued once when Kiwoom refuses it (8005/8031/401 and the
other RENEW codes): the client then resends the request once. The vault, lock and reuse are the
brokers' shared shape (`adapters.http.tokens.VaultedToken`); issuing and revoking are Kiwoom's.

Tokens and keys are never logged; logs name the app key by its fingerprint.
"""

from __future__ import annotations

from datetime import timedelta

import structlog

from adapters.http import ResilientClient
from adapters.http.tokens import IssuedToken, TokenVault, VaultedToken
from adapters.kiwoom import mapping
from adapters.kiwoom.endpoints import REVOKE, TOKEN
from adapters.kiwoom.errors import boundary, translator
from adapters.kiwoom.schemas import TokenReply, parse_json
from adapters.kiwoom.settings import KiwoomSettings
from orchestrator.ports import Clock

log = structlog.get_logger(__name__)


class KiwoomTokens(VaultedToken):
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
        super().__init__(
            vault,
            key=f"kiwoom.token.{settings.env}.{settings.fingerprint}",
            lock=f"kiwoom-token:{settings.fingerprint}",
            meta={"env": settings.env, "app": settings.fingerprint},
            margin=timedelta(seconds=settings.token_refresh_margin_seconds),
            clock=clock,
            source=source,
        )

    async def revoke(self) -> None:
        """au10002 for the token in use, then forget it (here and in the vault)."""
        await self.discard(then=self._revoke)

    async def _revoke(self, token: str) -> None:
        settings = self._settings
        await self._http.call(
            "POST",
            settings.host + REVOKE.path,
            endpoint=f"kiwoom.{REVOKE.name}",
            translate=translator(self._source),
            json=mapping.revoke_body(
                settings.app_key.get_secret_value(), settings.secret_key.get_secret_value(), token
            ),
            headers=mapping.headers(REVOKE.api_id, None),
            timeout=settings.http_timeout(),
        )
        log.info("kiwoom.token_revoked", app=settings.fingerprint, env=settings.env)

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
        log.info(
            "kiwoom.token_issued",
            app=settings.fingerprint,
            env=settings.env,
            token_expires_at=token.expires_at.isoformat(),
        )
        return token
