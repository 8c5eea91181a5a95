"""The consent flow (spec §1.1-§1.3, §1.6, §2.11, §2.12): start, finish, status, revoke.

`begin` remembers a random `state` and returns the authorize URL a person opens (with the
investor in `client_info`, which the relay echoes, so our callback knows whose consent it is);
the relay then redirects to our callback with `code` and `state`. `finish` checks the state
before exchanging the code (spec §1.1): it must be the pending one, single-use (cleared before
the code is exchanged, so a replay finds nothing) and younger than `consent_state_ttl_seconds`.
A refused callback raises CallbackRefused (HTTP 400), stores nothing and is audited. The token
is stored encrypted with the consent and `openbanking.consent_granted` audited in the same
transaction. PKCE is off by default: the digest found no PKCE parameter at the relay (§1.6), the
flow relies on the confidential client_secret plus state; `pkce: true` sends it anyway.

`revoke` ends access the relay's authoritative way (§1.6): `account/cancel` for every registered
account and each consented service, then `user/close`; "already done" answers (bank 551/555/556,
A0014) count as done. Who asked, when and which scope are in the audit event.

The `consent_*` functions at the bottom are the bodies of `orchestrator consent ...`.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import structlog

from adapters.openbanking.auth import ACTOR, OpenBankingOAuth, OpenBankingTokens
from adapters.openbanking.client import OpenBankingClient
from adapters.openbanking.endpoints import ACCOUNT_CANCEL, ACCOUNT_LIST, USER_CLOSE
from adapters.openbanking.mapping import account_list_query
from adapters.openbanking.schemas import AccountListReply, Envelope
from adapters.openbanking.settings import OpenBankingSettings
from adapters.openbanking.stores import Consent, ConsentState, ConsentStore, TokenVault
from orchestrator.domain.alerts import Alert
from orchestrator.domain.errors import (
    CallbackRefused,
    ConfigError,
    ConsentRequired,
    InvalidRequest,
    SourceError,
)
from orchestrator.domain.model import AuditEvent
from orchestrator.ports import AuditLog, Clock

log = structlog.get_logger(__name__)

Echo = Callable[[str], None]
SANDBOX_AUTO_CONSENT = "sandbox_auto_consent"  # the sandbox relay's scripted consent parameter
CANCEL_DONE_BANK_CODES = frozenset({"551", "555", "556"})  # §2.11: already cancelled / unknown
USER_CLOSED = "A0014"  # §2.12: already withdrawn
BANK_ERROR = "A0002"


@dataclass(frozen=True, slots=True)
class ConsentStart:
    """What starting a consent hands out: the URL to open and until when its state is good."""

    user_id: str
    url: str
    state_expires_at: datetime


def _pending_state(state: str, issued: datetime) -> str:
    """The state as stored: the value plus when it was handed out (its expiry needs no column)."""
    return f"{state}.{int(issued.timestamp())}"


def _split_pending(stored: str) -> tuple[str, datetime | None]:
    value, _, issued = stored.rpartition(".")
    if not value or not issued.isdigit():
        return stored, None  # stored before states carried their time: treated as expired
    return value, datetime.fromtimestamp(int(issued), tz=UTC)


@dataclass(frozen=True, slots=True)
class ConsentStatus:
    """What `orchestrator consent status` shows (never tokens)."""

    user_id: str
    state: ConsentState | None
    scope: str = ""
    granted_at: datetime | None = None
    expires_at: datetime | None = None
    pending: bool = False
    alert_days: float = 0.0
    now: datetime | None = None

    @property
    def granted(self) -> bool:
        return self.state is ConsentState.GRANTED

    @property
    def days_left(self) -> float | None:
        """Days until the token (and so, without a refresh, the consent) expires."""
        if self.expires_at is None or self.now is None or not self.granted:
            return None
        return round((self.expires_at - self.now) / timedelta(days=1), 2)

    @property
    def expiring(self) -> bool:
        """Granted and within `consent_expiry_alert_days` of its expiry (an alert is due)."""
        left = self.days_left
        return left is not None and left <= self.alert_days

    def expiry_alert(self) -> Alert | None:
        """The alert an operator gets while the consent is expiring (de-duplicated by key)."""
        if not self.expiring or self.expires_at is None:
            return None
        return Alert(
            key=f"openbanking:consent_expiring:{self.user_id}",
            text=(
                f"Open-banking consent of {self.user_id} expires {self.expires_at.isoformat()} "
                f"({self.days_left} days left) and was not renewed: ask them to consent again"
            ),
            detail={
                "user_id": self.user_id,
                "expires_at": self.expires_at.isoformat(),
                "days_left": str(self.days_left),
            },
        )

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
        pkce: bool = False,
        audit: AuditLog | None = None,
    ) -> None:
        self._settings = settings
        self._oauth = oauth
        self._tokens = tokens
        self._consents = consents
        self._vault = vault
        self._client = client
        self._clock = clock
        self._pkce = pkce
        self._audit = audit
        self._state_ttl = timedelta(seconds=settings.consent_state_ttl_seconds)

    async def start(self, user_id: str) -> str:
        """Remember a fresh state (and verifier) and return the authorize URL to open."""
        return (await self.begin(user_id)).url

    async def begin(
        self,
        user_id: str,
        *,
        actor: str = ACTOR,
        accountinfo_api_tran_id: str | None = None,
        accountinfo_list_num: Sequence[str] = (),
    ) -> ConsentStart:
        """`start` with the state's expiry, audited with who asked. With an 어카운트인포 result
        (`accountinfo_api_tran_id` and the chosen `list_num`s) the consent registers those
        accounts (`accountinfo_yn=Y`, spec §1.1, §2.13)."""
        extra: dict[str, str] = {}
        if accountinfo_api_tran_id:
            if not accountinfo_list_num:
                raise InvalidRequest("accountinfo_list_num: pick at least one list_num")
            extra = {
                "accountinfo_yn": "Y",
                "accountinfo_api_tran_id": accountinfo_api_tran_id,
                "accountinfo_list_num": ",".join(accountinfo_list_num),
            }
        state = secrets.token_hex(16)  # 32 characters, like the spec's samples (§4)
        verifier = secrets.token_urlsafe(48) if self._pkce else ""
        now = self._clock.now()
        await self._consents.begin(
            user_id,
            oauth_state=_pending_state(state, now),
            code_verifier=verifier,
            scope=self._settings.scope,
            now=now,
        )
        await self._record(
            now,
            actor,
            "openbanking.consent_started",
            user_id,
            {"accounts": extra.get("accountinfo_list_num", "")},
        )
        log.info("openbanking.consent_started", user_id=user_id)
        url = self._oauth.authorization_url(
            state=state, verifier=verifier or None, client_info=user_id, extra=extra
        )
        return ConsentStart(user_id=user_id, url=url, state_expires_at=now + self._state_ttl)

    async def callback(self, query: Mapping[str, str]) -> ConsentStatus:
        """Our redirect_uri: the relay's redirect, whose `client_info` names the investor."""
        user_id = query.get("client_info", "")
        if not user_id:
            await self._refuse("", "the callback names no investor (client_info)")
        return await self.finish(user_id, query=query)

    async def finish(
        self,
        user_id: str,
        *,
        redirect_url: str | None = None,
        code: str | None = None,
        state: str | None = None,
        query: Mapping[str, str] | None = None,
    ) -> ConsentStatus:
        """Complete the flow from the callback; CallbackRefused (nothing stored, audited) when
        the state is not the pending one, has expired, or was already used."""
        found = dict(query or {})
        if redirect_url is not None:
            found = {k: v[0] for k, v in parse_qs(urlsplit(redirect_url).query).items()}
        if found.get("rsp_code"):
            await self._refuse(
                user_id,
                f"the relay refused the consent: {found['rsp_code']} "
                f"{found.get('rsp_message', '')}".strip(),
                code=found["rsp_code"],
            )
        code = code or found.get("code")
        state = state or found.get("state")
        if not code or not state:
            await self._refuse(user_id, "the callback carries no code and state")
        assert code is not None
        assert state is not None
        pending = await self._consents.get(user_id)
        expected, issued = _split_pending(pending.oauth_state if pending is not None else "")
        if pending is None or not expected or not hmac.compare_digest(expected, state):
            await self._refuse(
                user_id, "state does not match the pending consent (unknown or already used)"
            )
        assert pending is not None
        # Single use: the state is spent before the code is exchanged, whatever happens next.
        await self._consents.begin(
            user_id, oauth_state="", code_verifier="", scope=pending.scope, now=self._clock.now()
        )
        if issued is None or self._clock.now() - issued > self._state_ttl:
            await self._refuse(user_id, "the consent state has expired: start again")
        token = await self._oauth.exchange(code, verifier=pending.code_verifier or None)
        if not token.user_seq_no:
            raise ConsentRequired(self._client.source, "the token answer has no user_seq_no")
        now = self._clock.now()
        await self._consents.grant(
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
        return await self.status(user_id)

    async def status(self, user_id: str) -> ConsentStatus:
        return _status(
            user_id,
            await self._consents.get(user_id),
            alert_days=self._settings.consent_expiry_alert_days,
            now=self._clock.now(),
        )

    async def revoke(self, user_id: str, *, actor: str = ACTOR) -> ConsentStatus:
        """End access at the relay (account/cancel per account and scope, then user/close),
        forget the token, audit who, when and which scope. Idempotent; the relay's part is
        best effort (an unreachable relay does not keep a revoked consent alive here)."""
        consent = await self._consents.get(user_id)
        if consent is None:
            return await self.status(user_id)
        key = self._tokens.user_key(user_id)
        token = await self._vault.load(key)
        relay: dict[str, str] = {"relay": "no token held"}
        if token is not None and consent.user_seq_no:
            relay = await self._end_at_relay(user_id, consent, token.access_token)
        now = self._clock.now()
        await self._consents.end(
            user_id,
            ConsentState.REVOKED,
            token_key=key,
            now=now,
            audit=AuditEvent(
                at=now,
                actor=actor,
                action="openbanking.consent_revoked",
                subject=f"user:{user_id}",
                detail={
                    "previous_state": consent.state.value,
                    "scope": consent.scope,
                    **relay,
                },
            ),
        )
        self._tokens.forget(user_id)
        log.info("openbanking.consent_revoked", user_id=user_id, actor=actor, **relay)
        return await self.status(user_id)

    async def _end_at_relay(
        self, user_id: str, consent: Consent, access_token: str
    ) -> dict[str, str]:
        """account/cancel every registration and consented service, then user/close."""
        bearer = _FixedBearer(access_token)
        scopes = [s for s in ("inquiry", "transfer") if s in consent.scope.split()]
        cancelled = failed = 0
        try:
            body = await self._client.call(
                ACCOUNT_LIST, bearer=bearer, params=account_list_query(consent.user_seq_no)
            )
            accounts = [a.fintech_use_num for a in AccountListReply.model_validate(body).res_list]
        except (SourceError, ValueError) as error:
            log.warning(
                "openbanking.revoke_list_failed", user_id=user_id, error=type(error).__name__
            )
            accounts = []
        for fintech_use_num in accounts:
            for scope in scopes:
                if await self._cancel(bearer, fintech_use_num, scope):
                    cancelled += 1
                else:
                    failed += 1
        closed = await self._close(bearer, consent.user_seq_no)
        if closed != "closed":
            try:  # the relay did not close the user: at least retire the token (spec §1.6)
                await self._oauth.revoke(access_token)
            except SourceError as error:
                log.warning(
                    "openbanking.revoke_failed", user_id=user_id, error=type(error).__name__
                )
        return {
            "accounts_cancelled": str(cancelled),
            "cancel_failures": str(failed),
            "user_close": closed,
        }

    async def _cancel(self, bearer: _FixedBearer, fintech_use_num: str, scope: str) -> bool:
        bank_tran_id, _ = await self._client.tran_ids.for_inquiry()
        try:
            body = await self._client.call(
                ACCOUNT_CANCEL,
                bearer=bearer,
                body={
                    "bank_tran_id": bank_tran_id,
                    "scope": scope,
                    "fintech_use_num": fintech_use_num,
                },
                accept=(BANK_ERROR,),
            )
        except SourceError as error:
            log.warning(
                "openbanking.account_cancel_failed", scope=scope, error=type(error).__name__
            )
            return False
        reply = Envelope.model_validate(body)
        if reply.rsp_code == BANK_ERROR and reply.bank_rsp_code not in CANCEL_DONE_BANK_CODES:
            log.warning("openbanking.account_cancel_failed", scope=scope, code=reply.bank_rsp_code)
            return False
        return True

    async def _close(self, bearer: _FixedBearer, user_seq_no: str) -> str:
        try:
            body = await self._client.call(
                USER_CLOSE,
                bearer=bearer,
                body={
                    "client_use_code": self._settings.client_use_code,
                    "user_seq_no": user_seq_no,
                },
                accept=(USER_CLOSED,),
            )
        except SourceError as error:
            log.warning("openbanking.user_close_failed", error=type(error).__name__)
            return f"failed: {error.code or type(error).__name__}"
        code = Envelope.model_validate(body).rsp_code
        return "already closed" if code == USER_CLOSED else "closed"

    async def _refuse(self, user_id: str, reason: str, *, code: str | None = None) -> None:
        """Audit a refused callback, then raise CallbackRefused (nothing else is stored)."""
        await self._record(
            self._clock.now(),
            ACTOR,
            "openbanking.consent_callback_refused",
            user_id or "unknown",
            {"reason": reason},
        )
        log.warning("openbanking.consent_callback_refused", user_id=user_id, reason=reason)
        raise CallbackRefused(self._client.source, reason, code=code)

    async def _record(
        self, now: datetime, actor: str, action: str, user_id: str, detail: dict[str, Any]
    ) -> None:
        if self._audit is not None:
            await self._audit.append(
                AuditEvent(
                    at=now, actor=actor, action=action, subject=f"user:{user_id}", detail=detail
                )
            )

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


class _FixedBearer:
    """The consent's own token for ending it: never refreshed (a refused call is logged)."""

    def __init__(self, token: str) -> None:
        self._token = token

    async def current(self) -> str:
        return self._token

    async def renew(self, rejected: str) -> str:
        raise ConsentRequired("openbanking", "the consent's token is no longer accepted")


def _status(
    user_id: str,
    consent: Consent | None,
    *,
    alert_days: float = 0.0,
    now: datetime | None = None,
) -> ConsentStatus:
    if consent is None:
        return ConsentStatus(user_id=user_id, state=None, alert_days=alert_days, now=now)
    return ConsentStatus(
        user_id=user_id,
        state=consent.state,
        scope=consent.scope,
        granted_at=consent.granted_at,
        expires_at=consent.expires_at,
        pending=bool(consent.oauth_state),
        alert_days=alert_days,
        now=now,
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
