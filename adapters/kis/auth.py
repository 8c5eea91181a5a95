"""Access tokens: one per app key, shared by every process through an encrypted vault.

KIS allows one issuance per minute per app key (EGW00133, spec §2.1) and notifies the user by
KakaoTalk on each, so a token is issued only when the vault holds none that is still valid,
under a cross-process lock, and reused across restarts until its KST expiry
(`access_token_token_expired`): the brokers' shared shape, `adapters.http.tokens.VaultedToken`.
What is KIS's own is the issuance: EGW00133 is waited out, not failed. When KIS calls a token
invalid or expired (EGW00121/EGW00123) the client asks `renew()` once.

Tokens and app keys are never logged; logs name the app key by its fingerprint.
"""

from __future__ import annotations

from datetime import timedelta

import structlog

from adapters.http import ResilientClient
from adapters.http.limiter import Sleep
from adapters.http.tokens import IssuedToken, TokenVault, VaultedToken
from adapters.kis import mapping
from adapters.kis.endpoints import TOKEN
from adapters.kis.errors import TokenThrottled, boundary, translator
from adapters.kis.schemas import TokenReply, parse_json
from adapters.kis.settings import KisSettings
from orchestrator.ports import Clock

log = structlog.get_logger(__name__)


class KisTokens(VaultedToken):
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
        self._sleep = sleep
        super().__init__(
            vault,
            key=f"kis.token.{settings.env}.{settings.fingerprint}",
            lock=f"kis-token:{settings.fingerprint}",
            meta={"env": settings.env, "app": settings.fingerprint},
            margin=timedelta(seconds=settings.token_refresh_margin_seconds),
            clock=clock,
            source=source,
        )

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
            log.info(
                "kis.token_issued",
                app=settings.fingerprint,
                env=settings.env,
                token_expires_at=token.expires_at.isoformat(),
            )
            return token
