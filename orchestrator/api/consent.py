"""Open-banking consent over the API, and our callback (the app's registered redirect_uri).

- `POST /api/v1/investors/{id}/consent` (operator): starts the three-legged flow and returns the
  authorize URL a person opens (in sandbox mode also `browser_url`, the same page on this
  service's mounted sandbox relay) and until when its state is good.
- `GET <redirect_uri path>` (no API key: the browser arrives from the relay; the single-use,
  expiring state is the credential): finishes it. A bad, expired or replayed state, or the
  relay's refusal, is a 400 (nothing stored, audited).
- `GET /api/v1/investors/{id}/consent` (viewer, or that investor's key): state, scope, expiry,
  days left and whether the expiry alert is due.
- `DELETE /api/v1/investors/{id}/consent` (operator): revoke at the relay (account/cancel,
  user/close), audited with the key's name and the scope.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Literal, Protocol

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from orchestrator.api.auth import (
    AUTH_RESPONSES,
    MUTATION_RESPONSES,
    ApiKey,
    Principal,
    authenticator,
)
from orchestrator.api.errors import error_responses


class ConsentFacts(Protocol):
    """What the consent adapter reports (adapters.openbanking.consent.ConsentStatus)."""

    @property
    def user_id(self) -> str: ...
    @property
    def state(self) -> str | None: ...
    @property
    def scope(self) -> str: ...
    @property
    def granted_at(self) -> datetime | None: ...
    @property
    def expires_at(self) -> datetime | None: ...
    @property
    def pending(self) -> bool: ...
    @property
    def days_left(self) -> float | None: ...
    @property
    def expiring(self) -> bool: ...


class ConsentStarted(Protocol):
    @property
    def user_id(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def state_expires_at(self) -> datetime: ...


class HeldAccountFacts(Protocol):
    @property
    def list_num(self) -> str: ...
    @property
    def institution(self) -> str: ...
    @property
    def masked_number(self) -> str: ...
    @property
    def product_name(self) -> str: ...
    @property
    def balance(self) -> Decimal | None: ...
    @property
    def deposit(self) -> Decimal | None: ...


class HeldAccountsFacts(Protocol):
    @property
    def api_tran_id(self) -> str: ...
    @property
    def accounts(self) -> Sequence[HeldAccountFacts]: ...


class ConsentControl(Protocol):
    async def begin(
        self,
        user_id: str,
        *,
        actor: str,
        accountinfo_api_tran_id: str | None = None,
        accountinfo_list_num: Sequence[str] = (),
    ) -> ConsentStarted: ...

    async def accountinfo(self, auth_code: str, kind: str) -> HeldAccountsFacts: ...

    async def callback(self, query: Mapping[str, str]) -> ConsentFacts: ...

    async def status(self, user_id: str) -> ConsentFacts: ...

    async def revoke(self, user_id: str, *, actor: str) -> ConsentFacts: ...


class ConsentOut(BaseModel):
    investor_id: str
    state: str | None = Field(description="pending, granted, revoked, expired, or null (never)")
    scope: str
    granted_at: datetime | None
    expires_at: datetime | None = Field(description="The relay token's expiry (90 days, §1.7)")
    days_left: float | None
    expiring: bool = Field(description="Within openbanking.consent_expiry_alert_days of expiry")
    pending: bool = Field(description="An authorize URL was handed out and not yet used")

    @classmethod
    def of(cls, facts: ConsentFacts) -> ConsentOut:
        return cls(
            investor_id=facts.user_id,
            state=None if facts.state is None else str(facts.state),
            scope=facts.scope,
            granted_at=facts.granted_at,
            expires_at=facts.expires_at,
            days_left=facts.days_left,
            expiring=facts.expiring,
            pending=facts.pending,
        )


class ConsentStartIn(BaseModel):
    """Optional: register accounts chosen from an 어카운트인포 result (accountinfo_yn=Y)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    accountinfo_api_tran_id: str | None = Field(default=None, min_length=1, max_length=40)
    accountinfo_list_num: list[str] = Field(default_factory=list, max_length=30)


class AccountInfoIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    auth_code: str = Field(min_length=1, max_length=100, description="From 사용자정보확인")
    kind: Literal["bank", "savings", "securities"] = "securities"


class HeldAccountOut(BaseModel):
    list_num: str
    institution: str
    masked_number: str
    product_name: str
    balance: str | None
    deposit: str | None = Field(description="예수금 (securities firms only)")


class AccountInfoOut(BaseModel):
    """Every account the investor holds at every institution of the kind (spec §2.13)."""

    investor_id: str
    accountinfo_api_tran_id: str
    accounts: list[HeldAccountOut]


class ConsentStartOut(BaseModel):
    investor_id: str
    authorize_url: str = Field(description="The relay's consent page (spec §1.1)")
    browser_url: str | None = Field(
        description="Sandbox mode: the same page on this service's mounted sandbox relay"
    )
    state_expires_at: datetime


def consent_router(
    keys: tuple[ApiKey, ...],
    consent: ConsentControl,
    *,
    callback_path: str,
    known: Callable[[str], Awaitable[object]],
    browser_url: Callable[[str], str | None] = lambda url: None,
) -> APIRouter:
    """`known(investor_id)` raises NotFound for an unknown investor."""
    require = authenticator(keys)
    operator = Depends(require("operator"))
    anyone = Depends(require("investor"))
    router = APIRouter(tags=["consent"])
    prefix = "/api/v1/investors/{investor_id}/consent"
    writes = {**MUTATION_RESPONSES, **error_responses(404, 502, 503)}

    async def _known(investor_id: str) -> None:
        await known(investor_id)

    @router.post(prefix, response_model=ConsentStartOut, responses=writes)
    async def start_consent(
        investor_id: str, body: ConsentStartIn | None = None, who: Principal = operator
    ) -> ConsentStartOut:
        """Start the three-legged consent: open `authorize_url` (sandbox: `browser_url`) in a
        browser; the relay sends the person back to our callback, which finishes it. With an
        어카운트인포 result the consent registers the chosen accounts."""
        await _known(investor_id)
        chosen = body or ConsentStartIn()
        started = await consent.begin(
            investor_id,
            actor=who.name,
            accountinfo_api_tran_id=chosen.accountinfo_api_tran_id,
            accountinfo_list_num=tuple(chosen.accountinfo_list_num),
        )
        return ConsentStartOut(
            investor_id=investor_id,
            authorize_url=started.url,
            browser_url=browser_url(started.url),
            state_expires_at=started.state_expires_at,
        )

    @router.get(
        prefix,
        response_model=ConsentOut,
        responses={**AUTH_RESPONSES, **error_responses(404)},
    )
    async def consent_status(investor_id: str, who: Principal = anyone) -> ConsentOut:
        """Where the investor's consent stands, its expiry and whether the alert is due."""
        await _known(who.own(investor_id))
        return ConsentOut.of(await consent.status(investor_id))

    @router.post(
        "/api/v1/investors/{investor_id}/accountinfo",
        response_model=AccountInfoOut,
        responses={**writes, **error_responses(422)},
    )
    async def accountinfo(
        investor_id: str, body: AccountInfoIn, who: Principal = operator
    ) -> AccountInfoOut:
        """어카운트인포 계좌통합조회: every account the investor holds at every institution of
        the kind, with balances (masked numbers only); pick `list_num`s and start a consent
        with them to register those accounts."""
        await _known(investor_id)
        found = await consent.accountinfo(body.auth_code, body.kind)
        return AccountInfoOut(
            investor_id=investor_id,
            accountinfo_api_tran_id=found.api_tran_id,
            accounts=[
                HeldAccountOut(
                    list_num=a.list_num,
                    institution=a.institution,
                    masked_number=a.masked_number,
                    product_name=a.product_name,
                    balance=None if a.balance is None else str(a.balance),
                    deposit=None if a.deposit is None else str(a.deposit),
                )
                for a in found.accounts
            ],
        )

    @router.delete(prefix, response_model=ConsentOut, responses=writes)
    async def revoke_consent(investor_id: str, who: Principal = operator) -> ConsentOut:
        """Revoke at the relay (account/cancel, user/close) and forget the token; audited."""
        await _known(investor_id)
        return ConsentOut.of(await consent.revoke(investor_id, actor=who.name))

    @router.get(
        callback_path,
        response_model=ConsentOut,
        responses=error_responses(400, 502, 503),
    )
    async def consent_callback(request: Request) -> ConsentOut:
        """The relay's redirect after a person consented (`code`, `state`, `client_info`)."""
        query = dict(request.query_params.items())
        return ConsentOut.of(await consent.callback(query))

    return router
