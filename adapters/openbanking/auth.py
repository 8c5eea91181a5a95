"""OAuth 2.0 with the relay (spec §1) and the tokens every call needs.

`OpenBankingOAuth` speaks to `/oauth/2.0/*`: the authorize URL (with `state`; PKCE parameters
only when `pkce: true`, since spec §1.6 found no PKCE at the relay), the code exchange, refresh,
client credentials (`oob`, for transfers) and revoke. Token calls are form-encoded (spec §1.3,
§8.9).

`OpenBankingTokens` hands out access tokens: the user's (stored encrypted with the consent) and
the 2-legged `oob` one. User tokens are refreshed `refresh_ahead_days` before their 90-day expiry
(spec §1.7), and at once when the relay answers O0002/O0003. A refresh the relay refuses
(O0001 [3002110]) ends the consent: ConsentRequired, a person must consent again. Refresh
tokens rotate at the relay (a sandbox choice where the spec is silent, §1.5), so refreshes of
one user are serialised here, and a refusal is first checked against the stored token: another
replica may just have rotated it.

Like `KisTokens`, the tokens are held in memory: a user's access token, `user_seq_no` and expiry
are read from the consent row and the vault once, then served from memory (a reconciliation
makes several calls per user; reading and decrypting each time was most of the client's CPU).
The copy is dropped (`forget`) whenever the token changes here: refreshed, rejected by the relay,
or the consent ended; a rejected token is first compared with the vault's, since another process
may have refreshed it. Changes made by other processes (a `consent revoke` from the CLI, a new
consent) are seen at the latest `recheck_seconds` later, when the copy is read again, or at once
if the relay rejects the held token. `OpenBankingConsent` should call `forget` after it grants or
revokes.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from urllib.parse import urlencode

import structlog

from adapters.openbanking.client import Bearer, OpenBankingClient
from adapters.openbanking.endpoints import AUTHORIZE, REVOKE, TOKEN
from adapters.openbanking.mapping import stored_token
from adapters.openbanking.schemas import TokenReply
from adapters.openbanking.settings import OpenBankingSettings
from adapters.openbanking.stores import ConsentState, ConsentStore, StoredToken, TokenVault
from orchestrator.domain.errors import AuthError, ConsentRequired, SourceError
from orchestrator.domain.model import AuditEvent
from orchestrator.ports import Clock

log = structlog.get_logger(__name__)

ACTOR = "openbanking"


def code_challenge(verifier: str) -> str:
    """RFC 7636 S256 challenge of a PKCE verifier."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class OpenBankingOAuth:
    """The relay's OAuth endpoints for one registered client."""

    def __init__(
        self, settings: OpenBankingSettings, client: OpenBankingClient, clock: Clock
    ) -> None:
        self._settings = settings
        self._client = client
        self._clock = clock

    def authorization_url(
        self,
        *,
        state: str,
        verifier: str | None,
        auth_type: str = "0",
        client_info: str | None = None,
        extra: dict[str, str] | None = None,
    ) -> str:
        """The URL a person opens to consent (spec §1.1); `auth_type` 0 = first-time auth.
        `client_info` comes back on the callback; `extra` adds e.g. the accountinfo_* fields."""
        s = self._settings
        params = {
            "response_type": "code",
            "client_id": s.client_id.get_secret_value(),
            "redirect_uri": s.redirect_uri,
            "scope": s.scope,
            "state": state,
            "auth_type": auth_type,
            "lang": "kor",
        }
        if client_info is not None:
            params["client_info"] = client_info
        params.update(extra or {})
        if verifier is not None:
            params["code_challenge"] = code_challenge(verifier)
            params["code_challenge_method"] = "S256"
        return f"{self._client.url(AUTHORIZE)}?{urlencode(params)}"

    async def exchange(self, code: str, *, verifier: str | None) -> StoredToken:
        """authorization_code grant (spec §1.3). A spent code raises ConsentRequired."""
        form = self._client_form(grant_type="authorization_code", code=code)
        form["redirect_uri"] = self._settings.redirect_uri
        if verifier:
            form["code_verifier"] = verifier
        return await self._token(form)

    async def refresh(self, refresh_token: str, *, scope: str) -> StoredToken:
        """refresh_token grant (spec §1.5); a refused refresh raises ConsentRequired."""
        form = self._client_form(grant_type="refresh_token", refresh_token=refresh_token)
        form["scope"] = scope
        return await self._token(form, previous_refresh=refresh_token)

    async def client_credentials(self, scope: str = "oob") -> StoredToken:
        """2-legged token (spec §1.4); its client_use_code must be ours (spec §8.2)."""
        token = await self._token(self._client_form(grant_type="client_credentials", scope=scope))
        expected = self._settings.client_use_code
        if token.client_use_code and token.client_use_code != expected:
            raise AuthError(
                self._client.source,
                "the relay's client_use_code differs from settings.client_use_code",
            )
        return token

    async def revoke(self, access_token: str) -> None:
        """Best-effort revoke (spec §1.6: parameter names unverified; both are sent)."""
        form = self._client_form(access_token=access_token, token=access_token)
        await self._client.call(REVOKE, form=form, operation="token")

    def _client_form(self, **extra: str) -> dict[str, str]:
        return {
            "client_id": self._settings.client_id.get_secret_value(),
            "client_secret": self._settings.client_secret.get_secret_value(),
            **extra,
        }

    async def _token(
        self, form: dict[str, str], *, previous_refresh: str | None = None
    ) -> StoredToken:
        body = await self._client.call(TOKEN, form=form, operation="token")
        reply = TokenReply.model_validate(body)
        return stored_token(reply, self._clock.now(), previous_refresh=previous_refresh)


@dataclass(frozen=True, slots=True)
class _Held:
    """A user's token as last read from the consent row and the vault."""

    token: StoredToken
    user_seq_no: str
    loaded_at: datetime


class OpenBankingTokens:
    """Access tokens for calls: per user (with consent) and the client's `oob` token."""

    def __init__(
        self,
        settings: OpenBankingSettings,
        oauth: OpenBankingOAuth,
        vault: TokenVault,
        consents: ConsentStore,
        clock: Clock,
        *,
        source: str = "openbanking",
        recheck_seconds: float = 60.0,
    ) -> None:
        self._settings = settings
        self._oauth = oauth
        self._vault = vault
        self._consents = consents
        self._clock = clock
        self._source = source
        self._ahead = timedelta(days=settings.refresh_ahead_days)
        self._recheck = timedelta(seconds=recheck_seconds)
        self._locks: dict[str, asyncio.Lock] = {}
        # In-memory copies. A generation is bumped by every `forget`, so a read from the
        # database that started before it cannot put an outdated copy back.
        self._held: dict[str, _Held] = {}
        self._generations: dict[str, int] = {}
        self._oob: StoredToken | None = None
        self._oob_generation = 0

    @staticmethod
    def user_key(user_id: str) -> str:
        return f"openbanking:user:{user_id}"

    @property
    def oob_key(self) -> str:
        return f"openbanking:oob:{self._settings.client_use_code}"

    def user_bearer(self, user_id: str) -> Bearer:
        return _UserBearer(self, user_id)

    def oob_bearer(self) -> Bearer:
        return _OobBearer(self)

    def forget(self, user_id: str) -> None:
        """Drop the in-memory copy of the user's token: the next call reads the database."""
        self._held.pop(user_id, None)
        self._generations[user_id] = self._generations.get(user_id, 0) + 1

    def holds(self, user_id: str) -> bool:
        """Whether a copy of the user's token is held in memory (for status and tests)."""
        return user_id in self._held

    async def user_seq_no(self, user_id: str) -> str:
        """The relay's number for the user (spec §1.3), known once consent is granted."""
        held = await self._user(user_id)
        if not held.user_seq_no:
            raise self._no_consent(user_id)
        return held.user_seq_no

    async def user_token(self, user_id: str) -> str:
        """The user's access token, refreshed first when it is within the refresh window."""
        token = (await self._user(user_id)).token
        if token.expires_at - self._clock.now() <= self._ahead:
            token = await self._refresh(user_id, token, forced=False)
        return token.access_token

    async def renew_user(self, user_id: str, rejected: str) -> str:
        """A token after the relay rejected `rejected` (O0002/O0003): the vault's, or refreshed.

        The copy in memory is dropped and the consent and vault read again first: another
        process may have refreshed the token (or the consent may have ended) meanwhile.
        """
        held = self._fresh_held(user_id)
        if held is not None and held.token.access_token != rejected:
            return held.token.access_token  # renewed here meanwhile
        self.forget(user_id)
        token = (await self._user(user_id, rejected=rejected)).token
        if token.access_token != rejected:
            return token.access_token  # somebody refreshed it meanwhile
        return (await self._refresh(user_id, token, forced=True)).access_token

    async def oob_token(self) -> str:
        """The 2-legged `oob` token, issued again when missing or near expiry."""
        token = self._oob
        if token is not None and token.expires_at - self._clock.now() > self._ahead:
            return token.access_token
        generation = self._oob_generation
        token = await self._vault.load(self.oob_key)
        if token is None or token.expires_at - self._clock.now() <= self._ahead:
            token = await self._issue_oob(stale=token)
        self._hold_oob(token, generation)
        return token.access_token

    async def renew_oob(self, rejected: str) -> str:
        held = self._oob
        if held is not None and held.access_token != rejected:
            return held.access_token
        self._forget_oob()
        generation = self._oob_generation
        token = await self._vault.load(self.oob_key)
        if token is None or token.access_token == rejected:
            token = await self._issue_oob(stale=token, forced=True)
        self._hold_oob(token, generation)
        return token.access_token

    # --- internals ----------------------------------------------------------------------------

    def _lock(self, key: str) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    def _no_consent(self, user_id: str) -> ConsentRequired:
        return ConsentRequired(
            self._source,
            f"user {user_id} has no open-banking consent: run `orchestrator consent start`",
        )

    def _fresh_held(self, user_id: str) -> _Held | None:
        held = self._held.get(user_id)
        if held is None:
            return None
        age = self._clock.now() - held.loaded_at
        if age < timedelta(0) or age >= self._recheck:
            return None  # read it again: another process may have changed the consent
        return held

    async def _user(self, user_id: str, *, rejected: str | None = None) -> _Held:
        """The user's token and user_seq_no: from memory, else from the consent row and vault.

        One read per user at a time; a token equal to `rejected` is returned but not held.
        """
        held = self._fresh_held(user_id)
        if held is not None:
            return held
        async with self._lock(f"load:{self.user_key(user_id)}"):
            held = self._fresh_held(user_id)
            if held is not None:
                return held
            generation = self._generations.get(user_id, 0)
            consent = await self._consents.get(user_id)
            if consent is None or not consent.granted:
                self.forget(user_id)
                raise self._no_consent(user_id)
            token = await self._vault.load(self.user_key(user_id))
            if token is None:
                self.forget(user_id)
                raise self._no_consent(user_id)
            held = _Held(token, consent.user_seq_no, self._clock.now())
            if token.access_token != rejected and self._generations.get(user_id, 0) == generation:
                self._held[user_id] = held
            return held

    async def _refresh(self, user_id: str, seen: StoredToken, *, forced: bool) -> StoredToken:
        """`_refresh_stored`, dropping the copy in memory when the token changed."""
        try:
            token = await self._refresh_stored(user_id, seen, forced=forced)
        except ConsentRequired:
            self.forget(user_id)
            raise
        if token.access_token != seen.access_token:
            # Read it again from the database next time: a refresh stored while the consent
            # ended is discarded by the store, and must not live on here.
            self.forget(user_id)
        return token

    async def _refresh_stored(
        self, user_id: str, seen: StoredToken, *, forced: bool
    ) -> StoredToken:
        key = self.user_key(user_id)
        async with self._lock(key):
            current = await self._vault.load(key)
            if current is None:
                raise self._no_consent(user_id)
            now = self._clock.now()
            if current.access_token != seen.access_token:
                return current  # refreshed while we waited for the lock
            if not forced and current.expires_at - now > self._ahead:
                return current
            still_valid = not forced and current.expires_at > now
            try:
                if current.refresh_token is None:
                    raise ConsentRequired(self._source, "no refresh token stored")
                fresh = await self._oauth.refresh(
                    current.refresh_token, scope=current.scope or self._settings.scope
                )
            except ConsentRequired:
                latest = await self._vault.load(key)
                if latest is not None and latest.access_token != current.access_token:
                    return latest  # another replica rotated the refresh token first
                if still_valid:
                    log.warning("openbanking.token_refresh_refused", user_id=user_id)
                    return current
                await self._end(user_id, now)
                raise
            except SourceError as error:
                if still_valid:
                    log.warning(
                        "openbanking.token_refresh_failed",
                        user_id=user_id,
                        error=type(error).__name__,
                    )
                    return current
                raise
            fresh = replace(fresh, user_seq_no=fresh.user_seq_no or current.user_seq_no)
            await self._consents.refresh(
                user_id,
                fresh,
                token_key=key,
                now=now,
                audit=_audit(
                    now,
                    "openbanking.consent_refreshed",
                    user_id,
                    scope=fresh.scope,
                    expires_at=fresh.expires_at.isoformat(),
                    reason="rejected" if forced else "ahead_of_expiry",
                ),
            )
            log.info(
                "openbanking.token_refreshed",
                user_id=user_id,
                token_expires_at=fresh.expires_at.isoformat(),
                reason="rejected" if forced else "ahead_of_expiry",
            )
            return fresh

    async def _end(self, user_id: str, now: datetime) -> None:
        self.forget(user_id)
        await self._consents.end(
            user_id,
            ConsentState.EXPIRED,
            token_key=self.user_key(user_id),
            now=now,
            audit=_audit(now, "openbanking.consent_expired", user_id),
        )
        log.warning("openbanking.consent_expired", user_id=user_id)

    def _forget_oob(self) -> None:
        self._oob = None
        self._oob_generation += 1

    def _hold_oob(self, token: StoredToken, generation: int) -> None:
        if self._oob_generation == generation:
            self._oob = token

    async def _issue_oob(self, *, stale: StoredToken | None, forced: bool = False) -> StoredToken:
        async with self._lock(self.oob_key):
            current = await self._vault.load(self.oob_key)
            now = self._clock.now()
            seen = None if stale is None else stale.access_token
            if current is not None and current.access_token != seen:
                return current  # issued while we waited
            if current is not None and not forced and current.expires_at - now > self._ahead:
                return current
            token = await self._oauth.client_credentials("oob")
            await self._vault.save(self.oob_key, token, now=now)
            log.info("openbanking.oob_token_issued", token_expires_at=token.expires_at.isoformat())
            return token


class _UserBearer:
    def __init__(self, tokens: OpenBankingTokens, user_id: str) -> None:
        self._tokens = tokens
        self._user_id = user_id

    async def current(self) -> str:
        return await self._tokens.user_token(self._user_id)

    async def renew(self, rejected: str) -> str:
        return await self._tokens.renew_user(self._user_id, rejected)


class _OobBearer:
    def __init__(self, tokens: OpenBankingTokens) -> None:
        self._tokens = tokens

    async def current(self) -> str:
        return await self._tokens.oob_token()

    async def renew(self, rejected: str) -> str:
        return await self._tokens.renew_oob(rejected)


def _audit(now: datetime, action: str, user_id: str, **detail: str) -> AuditEvent:
    return AuditEvent(at=now, actor=ACTOR, action=action, subject=f"user:{user_id}", detail=detail)
