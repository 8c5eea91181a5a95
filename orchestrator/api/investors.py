"""/api/v1/investors: onboarding as records. Reads need a viewer key, or an investor key for
its own investor (another investor's id is a 404, a listing shows only its own); writes the
operator role and are audited by the service with the key's name as the actor.

Duplicates are 409 naming the existing record, unknown ids 404, bad fields 422 (the one
domain-error mapping in orchestrator.api.errors). Credentials are only ever shown as a masked
suffix; account references (fintech numbers, account numbers) never leave the service.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from orchestrator.api.auth import (
    AUTH_RESPONSES,
    MUTATION_RESPONSES,
    ApiKey,
    Principal,
    authenticator,
)
from orchestrator.api.errors import error_responses
from orchestrator.domain.errors import NotFound
from orchestrator.domain.investors import (
    ACCOUNT_ID,
    INVESTOR_ID,
    SOURCE_NAME,
    Credential,
    Investor,
    InvestorAccount,
)
from orchestrator.domain.model import Institution
from orchestrator.services.investors import InvestorService


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class InvestorIn(_In):
    # The pattern is the domain's rule, declared so that the OpenAPI tells clients what an id is.
    id: str = Field(min_length=1, max_length=64, pattern=INVESTOR_ID.pattern)
    display_name: str = Field(default="", max_length=200)


class DisableIn(_In):
    reason: str = Field(default="", max_length=500)


class AccountIn(_In):
    id: str = Field(min_length=1, max_length=64, pattern=ACCOUNT_ID.pattern)
    source: str = Field(min_length=1, max_length=40, pattern=SOURCE_NAME.pattern)
    institution: str = Field(default="", max_length=10)
    kind: str = Field(default="", max_length=20)
    name: str = Field(default="", max_length=200)
    overrides: dict[str, Any] = Field(default_factory=dict)


class KisCredentialIn(_In):
    app_key: str = Field(min_length=1, max_length=200)
    app_secret: str = Field(min_length=1, max_length=400)
    account: str = Field(min_length=11, max_length=11, description="CANO-ACNT_PRDT_CD")
    env: Literal["real", "paper"] = "real"


class AccountPatchIn(_In):
    overrides: dict[str, Any] | None = None
    enabled: bool | None = None


class InvestorOut(BaseModel):
    id: str
    display_name: str
    status: Literal["active", "disabled"]
    created_at: datetime
    updated_at: datetime
    disabled_at: datetime | None

    @classmethod
    def of(cls, i: Investor) -> InvestorOut:
        return cls(
            id=i.id,
            display_name=i.display_name,
            status=i.status,
            created_at=i.created_at,
            updated_at=i.updated_at,
            disabled_at=i.disabled_at,
        )


class InvestorPageOut(BaseModel):
    items: list[InvestorOut]
    next_cursor: str | None


class AccountOut(BaseModel):
    id: str
    investor_id: str
    source: str
    institution: str
    kind: str
    masked_number: str
    name: str
    origin: str
    enabled: bool
    overrides: dict[str, Any]
    reconcile: dict[str, Any] = Field(description="What reconciliation reads (derived + overrides)")

    @classmethod
    def of(cls, a: InvestorAccount) -> AccountOut:
        return cls(
            id=a.id,
            investor_id=a.investor_id,
            source=a.source,
            institution=a.institution,
            kind=a.kind,
            masked_number=a.masked_number,
            name=a.name,
            origin=a.origin,
            enabled=a.enabled,
            overrides=dict(a.overrides),
            reconcile=a.reconcile_fields(),
        )


class CredentialOut(BaseModel):
    institution: str
    env: str
    key_suffix: str = Field(description="Masked: the last characters of the key only")
    account_id: str | None
    status: str
    updated_at: datetime

    @classmethod
    def of(cls, c: Credential) -> CredentialOut:
        return cls(
            institution=c.institution,
            env=c.env,
            key_suffix=c.key_suffix,
            account_id=c.account_id,
            status=c.status,
            updated_at=c.updated_at,
        )


class InvestorDetailOut(InvestorOut):
    accounts: list[AccountOut]
    credentials: list[CredentialOut]


class InstitutionOut(BaseModel):
    institution: str = Field(description="KFTC institution code (bank_code_std), e.g. 240")
    accounts: list[AccountOut]
    cash: str | None = Field(description="Cash at the newest reconciliation (KRW), if read")
    securities: str | None = Field(description="Holdings value at the newest reconciliation")


class ConsolidatedOut(BaseModel):
    """Every institution the investor holds accounts at, with balances where readable."""

    investor: InvestorOut
    institutions: list[InstitutionOut]
    portfolio: dict[str, Any] | None = Field(
        description="The newest reconciliation's consolidated portfolio (null before one ran)"
    )
    consent: str | None = Field(description="Open-banking consent state (null: never)")


Portfolio = Callable[[str], Awaitable[Mapping[str, Any] | None]]
ConsentState = Callable[[str], Awaitable[str | None]]


async def _no_portfolio(investor_id: str) -> Mapping[str, Any] | None:
    return None


async def _no_consent(investor_id: str) -> str | None:
    return None


def investors_router(
    keys: tuple[ApiKey, ...],
    service: InvestorService,
    *,
    portfolio: Portfolio = _no_portfolio,
    consent: ConsentState = _no_consent,
) -> APIRouter:
    require = authenticator(keys)
    operator = Depends(require("operator"))
    anyone = Depends(require("investor"))  # reads below scope an investor key to its own
    router = APIRouter(prefix="/api/v1", responses=AUTH_RESPONSES, tags=["investors"])
    writes = {**MUTATION_RESPONSES, **error_responses(404, 409, 422)}

    @router.get("/investors", response_model=InvestorPageOut)
    async def list_investors(
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        cursor: Annotated[str | None, Query(max_length=64)] = None,
        search: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
        status: Annotated[Literal["active", "disabled"] | None, Query()] = None,
        who: Principal = anyone,
    ) -> InvestorPageOut:
        """Investors by id, `limit` at a time; pass `next_cursor` back as `cursor`. `search`
        matches an id prefix or part of the display name. An investor key lists itself only."""
        if who.investor is not None:
            own = await service.get(who.investor)
            return InvestorPageOut(items=[InvestorOut.of(own)], next_cursor=None)
        page = await service.list(limit=limit, cursor=cursor, search=search, status=status)
        return InvestorPageOut(
            items=[InvestorOut.of(i) for i in page.items], next_cursor=page.next_cursor
        )

    @router.post("/investors", status_code=201, response_model=InvestorOut, responses=writes)
    async def create_investor(body: InvestorIn, who: Principal = operator) -> InvestorOut:
        """Onboard an investor (409 naming the existing one when the id is taken)."""
        return InvestorOut.of(await service.create(body.id, body.display_name, actor=who.name))

    @router.get(
        "/investors/{investor_id}",
        response_model=InvestorDetailOut,
        responses=error_responses(404),
    )
    async def show_investor(investor_id: str, who: Principal = anyone) -> InvestorDetailOut:
        """One investor with accounts and masked credentials."""
        investor = await service.get(who.own(investor_id))
        accounts = await service.accounts(investor_id)
        credentials = await service.store.credentials(investor_id)
        return InvestorDetailOut(
            **InvestorOut.of(investor).model_dump(),
            accounts=[AccountOut.of(a) for a in accounts],
            credentials=[CredentialOut.of(c) for c in credentials],
        )

    @router.post("/investors/{investor_id}/disable", response_model=InvestorOut, responses=writes)
    async def disable_investor(
        investor_id: str, body: DisableIn, who: Principal = operator
    ) -> InvestorOut:
        """Offboard: stop their scheduled work, revoke consent, delete tokens and credentials;
        audit and history stay."""
        return InvestorOut.of(
            await service.disable(investor_id, actor=who.name, reason=body.reason)
        )

    @router.get(
        "/investors/{investor_id}/accounts",
        response_model=list[AccountOut],
        responses=error_responses(404),
    )
    async def list_accounts(investor_id: str, who: Principal = anyone) -> list[AccountOut]:
        """The investor's accounts and what reconciliation reads of each."""
        return [AccountOut.of(a) for a in await service.accounts(who.own(investor_id))]

    @router.post(
        "/investors/{investor_id}/discover",
        response_model=list[AccountOut],
        responses={**writes, **error_responses(502, 503)},
    )
    async def discover(investor_id: str, who: Principal = operator) -> list[AccountOut]:
        """Register the accounts the sources find (open banking: account/list after consent);
        idempotent, an operator's overrides kept. Runs by itself after a consent is granted."""
        return [AccountOut.of(a) for a in await service.discover(investor_id, actor=who.name)]

    @router.get(
        "/investors/{investor_id}/view",
        response_model=ConsolidatedOut,
        responses=error_responses(404),
    )
    async def consolidated(investor_id: str, who: Principal = anyone) -> ConsolidatedOut:
        """The consolidated view: all institutions with their accounts, cash and holdings value
        from the newest reconciliation (balances where readable), and the consent state."""
        investor = await service.get(who.own(investor_id))
        accounts = await service.accounts(investor_id)
        found = await portfolio(investor_id)
        cash = _by_institution(found, "cash_by_institution")
        securities = _by_institution(found, "securities_by_institution")
        institutions: dict[str, list[AccountOut]] = {}
        for account in accounts:
            institutions.setdefault(account.institution or account.source, []).append(
                AccountOut.of(account)
            )
        return ConsolidatedOut(
            investor=InvestorOut.of(investor),
            institutions=[
                InstitutionOut(
                    institution=code,
                    accounts=listed,
                    cash=_amount(cash, code, listed),
                    securities=_amount(securities, code, listed),
                )
                for code, listed in sorted(institutions.items())
            ],
            portfolio=None if found is None else dict(found),
            consent=await consent(investor_id),
        )

    @router.post(
        "/investors/{investor_id}/accounts",
        status_code=201,
        response_model=AccountOut,
        responses=writes,
    )
    async def add_account(
        investor_id: str, body: AccountIn, who: Principal = operator
    ) -> AccountOut:
        """Register an account by hand (discovery registers the ones it finds)."""
        account = await service.add_account(
            investor_id,
            account_id=body.id,
            source=body.source,
            actor=who.name,
            institution=body.institution,
            kind=body.kind,
            name=body.name,
            overrides=body.overrides,
        )
        return AccountOut.of(account)

    @router.patch("/accounts/{account_id}", response_model=AccountOut, responses=writes)
    async def update_account(
        account_id: str, body: AccountPatchIn, who: Principal = operator
    ) -> AccountOut:
        """Override what reconciliation reads of one account, or stop reading it."""
        return AccountOut.of(
            await service.update_account(
                account_id, actor=who.name, overrides=body.overrides, enabled=body.enabled
            )
        )

    @router.put(
        "/investors/{investor_id}/credentials/kis", response_model=CredentialOut, responses=writes
    )
    async def attach_kis(
        investor_id: str, body: KisCredentialIn, who: Principal = operator
    ) -> CredentialOut:
        """Attach or rotate the investor's KIS app key; proven by issuing a token first (a
        refusal is 422 with KIS's code and message, and nothing is stored). The reply shows a
        masked suffix only."""
        credential = await service.attach_kis(
            investor_id,
            app_key=body.app_key,
            app_secret=body.app_secret,
            account=body.account,
            env=body.env,
            actor=who.name,
        )
        return CredentialOut.of(credential)

    @router.delete(
        "/investors/{investor_id}/credentials/{institution}", status_code=204, responses=writes
    )
    async def detach(investor_id: str, institution: str, who: Principal = operator) -> None:
        """Delete the investor's credential at the institution (audited)."""
        if not await service.detach(investor_id, institution, actor=who.name):
            raise NotFound(f"investor {investor_id} has no {institution} credential")

    return router


def _label(code: str) -> str:
    """Portfolios key institutions by label (e.g. "samsung_securities"), accounts by KFTC code."""
    try:
        return Institution(code).name.lower()
    except ValueError:
        return ""


def _by_institution(found: Mapping[str, Any] | None, field: str) -> Mapping[str, Any]:
    value = None if found is None else found.get(field)
    return value if isinstance(value, Mapping) else {}


def _amount(figures: Mapping[str, Any], code: str, accounts: list[AccountOut]) -> str | None:
    for name in (code, _label(code), *(a.source for a in accounts)):
        if name and name in figures:
            return str(figures[name])
    return None
