"""The consent flow (spec §1.1-§1.3, §1.6): start, finish, status, revoke, sandbox provisioning.

`start` remembers a random `state` (and a PKCE verifier) and returns the authorize URL a person
opens; the relay then redirects to our callback with `code` and `state`. `finish` takes that
redirect URL (or code and state), checks `state` before exchanging the code (spec §1.1), stores
the token encrypted with the consent and writes `openbanking.consent_granted` to the audit log in
the same transaction. The `consent_*` functions at the bottom are the bodies of
`orchestrator consent start|finish|status|revoke`.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qs, urlencode, urlsplit

import structlog

from adapters.openbanking.auth import ACTOR, OpenBankingOAuth, OpenBankingTokens
from adapters.openbanking.client import OpenBankingClient
from adapters.openbanking.settings import OpenBankingSettings
from adapters.openbanking.stores import Consent, ConsentState, ConsentStore, TokenVault
from orchestrator.domain.errors import ConfigError, ConsentRequired, SourceError
from orchestrator.domain.model import AuditEvent
from orchestrator.ports import Clock

log = structlog.get_logger(__name__)

Echo = Callable[[str], None]
SANDBOX_AUTO_CONSENT = "sandbox_auto_consent"  # the sandbox relay's scripted consent parameter


@dataclass(frozen=True, slots=True)
class ConsentStatus:
    """What `orchestrator consent status` shows (never tokens)."""

    user_id: str
    state: ConsentState | None
    scope: str = ""
    granted_at: datetime | None = None
    expires_at: datetime | None = None
    pending: bool = False

    @property
    def granted(self) -> bool:
        return self.state is ConsentState.GRANTED

    def describe(self) -> str:
        if self.state is None:
            return f"{self.user_id}: no consent (run `orchestrator consent start`)"
        parts = [f"{self.user_id}: {self.state.value}"]
        if self.scope:
            parts.append(f"scope={self.scope!r}")
        if self.expires_at is not None:
            parts.append(f"token expires {self.expires_at.isoformat()}")
        if self.pending:
            parts.append("an authorization is pending (run `orchestrator consent finish`)")
        return ", ".join(parts)


class OpenBankingConsent:
    """Grants, inspects and revokes users' open-banking consent."""

    def __init__(
        self,
        settings: OpenBankingSettings,
        oauth: OpenBankingOAuth,
        tokens: OpenBankingTokens,
        consents: ConsentStore,
        vault: TokenVault,
        client: OpenBankingClient,
        clock: Clock,
        *,
        pkce: bool = True,
    ) -> None:
        self._settings = settings
        self._oauth = oauth
        self._tokens = tokens
        self._consents = consents
        self._vault = vault
        self._client = client
        self._clock = clock
        self._pkce = pkce

    async def start(self, user_id: str) -> str:
        """Remember a fresh state (and verifier) and return the authorize URL to open."""
        state = secrets.token_hex(16)  # 32 characters, like the spec's samples (§4)
        verifier = secrets.token_urlsafe(48) if self._pkce else ""
        await self._consents.begin(
            user_id,
            oauth_state=state,
            code_verifier=verifier,
            scope=self._settings.scope,
            now=self._clock.now(),
        )
        log.info("openbanking.consent_started", user_id=user_id)
        return self._oauth.authorization_url(state=state, verifier=verifier or None)

    async def finish(
        self,
        user_id: str,
        *,
        redirect_url: str | None = None,
        code: str | None = None,
        state: str | None = None,
    ) -> ConsentStatus:
        """Complete the flow from the callback; raises ConsentRequired when it cannot be used."""
        if redirect_url is not None:
            query = {k: v[0] for k, v in parse_qs(urlsplit(redirect_url).query).items()}
            if query.get("rsp_code"):
                raise ConsentRequired(
                    self._client.source,
                    f"the relay refused the consent: {query['rsp_code']} "
                    f"{query.get('rsp_message', '')}".strip(),
                    code=query["rsp_code"],
                )
            code = code or query.get("code")
            state = state or query.get("state")
        if not code or not state:
            raise ConsentRequired(self._client.source, "the callback carries no code and state")
        pending = await self._consents.get(user_id)
        if (
            pending is None
            or not pending.oauth_state
            or not hmac.compare_digest(pending.oauth_state, state)
        ):
            raise ConsentRequired(
                self._client.source, "state does not match the pending consent: start again"
            )
        token = await self._oauth.exchange(code, verifier=pending.code_verifier or None)
        if not token.user_seq_no:
            raise ConsentRequired(self._client.source, "the token answer has no user_seq_no")
        now = self._clock.now()
        consent = await self._consents.grant(
            user_id,
            token,
            token_key=self._tokens.user_key(user_id),
            now=now,
            audit=AuditEvent(
                at=now,
                actor=ACTOR,
                action="openbanking.consent_granted",
                subject=f"user:{user_id}",
                detail={"scope": token.scope, "expires_at": token.expires_at.isoformat()},
            ),
        )
        self._tokens.forget(user_id)  # the in-memory copy belongs to the previous consent
        log.info(
            "openbanking.consent_granted",
            user_id=user_id,
            scope=token.scope,
            token_expires_at=token.expires_at.isoformat(),
        )
        return _status(user_id, consent)

    async def status(self, user_id: str) -> ConsentStatus:
        return _status(user_id, await self._consents.get(user_id))

    async def revoke(self, user_id: str) -> ConsentStatus:
        """Revoke at the relay (best effort, spec §1.6), forget the token, audit. Idempotent."""
        consent = await self._consents.get(user_id)
        if consent is None:
            return _status(user_id, None)
        key = self._tokens.user_key(user_id)
        token = await self._vault.load(key)
        if token is not None:
            try:
                await self._oauth.revoke(token.access_token)
            except SourceError as error:
                log.warning(
                    "openbanking.revoke_failed", user_id=user_id, error=type(error).__name__
                )
        now = self._clock.now()
        await self._consents.end(
            user_id,
            ConsentState.REVOKED,
            token_key=key,
            now=now,
            audit=AuditEvent(
                at=now,
                actor=ACTOR,
                action="openbanking.consent_revoked",
                subject=f"user:{user_id}",
                detail={"previous_state": consent.state.value},
            ),
        )
        self._tokens.forget(user_id)
        log.info("openbanking.consent_revoked", user_id=user_id)
        return await self.status(user_id)

    async def provision_sandbox_consent(
        self, user_id: str, *, sandbox_user: str | None = None
    ) -> bool:
        """Sandbox mode: grant the demo user's consent by scripting the relay's consent page.

        Over HTTP only: the authorize URL plus `sandbox_auto_consent=<user>` redirects straight to
        the callback, whose URL finishes the flow. Does nothing (False) when consent is already
        granted; refuses the production relay.
        """
        if (await self.status(user_id)).granted:
            return False
        if self._settings.is_production:
            raise ConfigError("openbanking: sandbox consent provisioning against production")
        url = await self.start(user_id)
        separator = "&" if "?" in url else "?"
        scripted = f"{url}{separator}{urlencode({SANDBOX_AUTO_CONSENT: sandbox_user or user_id})}"
        location = await self._client.redirect(scripted)
        if not location:
            raise ConsentRequired(self._client.source, "the sandbox did not redirect")
        await self.finish(user_id, redirect_url=location)
        log.info("openbanking.sandbox_consent_provisioned", user_id=user_id)
        return True


def _status(user_id: str, consent: Consent | None) -> ConsentStatus:
    if consent is None:
        return ConsentStatus(user_id=user_id, state=None)
    return ConsentStatus(
        user_id=user_id,
        state=consent.state,
        scope=consent.scope,
        granted_at=consent.granted_at,
        expires_at=consent.expires_at,
        pending=bool(consent.oauth_state),
    )


# --- CLI command bodies (the lead attaches them to typer; `echo` is typer.echo) ------------------


async def consent_start(consent: OpenBankingConsent, user_id: str, echo: Echo) -> str:
    """`orchestrator consent start USER`: print the URL to open in a browser."""
    url = await consent.start(user_id)
    echo("Open this URL, consent, then run `orchestrator consent finish` with the redirect URL:")
    echo(url)
    return url


async def consent_finish(
    consent: OpenBankingConsent,
    user_id: str,
    echo: Echo,
    *,
    redirect_url: str | None = None,
    code: str | None = None,
    state: str | None = None,
) -> ConsentStatus:
    """`orchestrator consent finish USER REDIRECT_URL` (or `--code C --state S`)."""
    status = await consent.finish(user_id, redirect_url=redirect_url, code=code, state=state)
    echo(status.describe())
    return status


async def consent_status(consent: OpenBankingConsent, user_id: str, echo: Echo) -> ConsentStatus:
    """`orchestrator consent status USER`."""
    status = await consent.status(user_id)
    echo(status.describe())
    return status


async def consent_revoke(consent: OpenBankingConsent, user_id: str, echo: Echo) -> ConsentStatus:
    """`orchestrator consent revoke USER`."""
    status = await consent.revoke(user_id)
    echo(status.describe())
    return status
