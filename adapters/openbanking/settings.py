"""Settings of the open-banking adapter (`openbanking:` section of the YAML), `extra="forbid"`.

Client credentials are secret references (env:/file:/literal:) resolved into SecretStr at load
time; so is the deposit pass phrase. Transfers are off unless `transfers.enabled` is set, and then
every field a deposit needs must be present (checked at load, not at the first transfer).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, model_validator

from adapters.http.settings import RateSpec
from orchestrator.domain.model import Institution
from orchestrator.settings import SecretRef

# Spec §0 hosts. The sandbox is reached through any base_url (the in-process transport ignores it).
PRODUCTION_HOST = "https://openapi.openbanking.or.kr"
TESTBED_HOST = "https://testapi.openbanking.or.kr"
# Spec §1.1 user scopes this read path may ask for; `login` lists accounts, `inquiry` reads them.
USER_SCOPES = frozenset({"login", "inquiry", "transfer"})
LIMIT_KIND = "openbanking_user"
_FINTECH_USE_NUM = re.compile(r"^[0-9]{24}$")
_AH20 = 20  # AH(20) text fields count characters (spec §4)


class TransferSettings(BaseModel):
    """Guarded deposits (입금이체, spec §2.6) from our payout account into the linked CMA."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    per_transfer_limit: Decimal = Field(default=Decimal(1_000_000), gt=0)
    daily_limit: Decimal = Field(default=Decimal(3_000_000), gt=0)
    # The deposit target: the user's linked CMA, by the relay's fintech_use_num (24 digits).
    target_fintech_use_num: str | None = None
    target_user_id: str = "demo"
    # Our payout (약정) account registered with the relay (spec §2.6 cntr_account_*).
    cntr_account_type: Literal["N", "C"] = "N"
    cntr_account_num: str | None = Field(default=None, pattern=r"^[0-9A-Za-z-]{1,16}$")
    wd_pass_phrase: SecretRef | None = None
    wd_print_content: str = Field(default="오케스트레이터", max_length=_AH20)
    print_content: str = Field(default="CMA입금", max_length=_AH20)
    req_client_name: str = Field(default="", max_length=_AH20)
    req_client_num: str = Field(default="ORCHESTRATOR", pattern=r"^[A-Z0-9]{1,20}$")
    transfer_purpose: Literal["TR", "ST", "RC", "AU", "WD", "EX"] = "TR"
    name_check_option: Literal["on", "off"] = "on"
    # transfer/result's "no record" (A0310) only counts as "never executed" this long after
    # sending: earlier, the request may still be on its way through the relay.
    no_record_grace_seconds: float = Field(default=120.0, ge=0, le=3600)

    @model_validator(mode="after")
    def _check(self) -> TransferSettings:
        for name in ("per_transfer_limit", "daily_limit"):
            if getattr(self, name) != getattr(self, name).to_integral_value():
                raise ValueError(f"{name} must be whole KRW")
        if self.per_transfer_limit > self.daily_limit:
            raise ValueError("per_transfer_limit must not exceed daily_limit")
        if self.target_fintech_use_num is not None and not _FINTECH_USE_NUM.fullmatch(
            self.target_fintech_use_num
        ):
            raise ValueError("target_fintech_use_num must be 24 digits")
        if self.enabled:
            missing = [
                name
                for name in (
                    "target_fintech_use_num",
                    "cntr_account_num",
                    "wd_pass_phrase",
                    "req_client_name",
                )
                if not getattr(self, name)
            ]
            if missing:
                raise ValueError(f"transfers.enabled needs {', '.join(missing)}")
        return self


class OpenBankingSettings(BaseModel):
    """One registered 이용기관 (client) on the relay, and how this adapter uses it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = TESTBED_HOST
    client_id: SecretRef
    client_secret: SecretRef
    # 이용기관코드: the first 10 characters of every bank_tran_id (spec §4).
    client_use_code: str = Field(pattern=r"^[A-Z0-9]{10}$")
    # Must equal the callback registered for the app (spec §1.1, O0001 [3000114]).
    redirect_uri: str
    scope: str = "login inquiry"
    # Send PKCE (code_challenge/code_verifier): the spec found no PKCE at KFTC (§1.6), so the
    # relay is expected to ignore it; turn off if a relay refuses unknown parameters.
    # Spec §1.6: no PKCE parameter appears in any source, so none is sent unless asked for.
    pkce: bool = False
    # How long a consent's `state` stays good between start and callback (single-use anyway).
    consent_state_ttl_seconds: int = Field(default=600, ge=30, le=3600)
    # Alert this many days before a consent's token expires (90-day tokens, spec §1.7). Below
    # refresh_ahead_days, so the alert means the refresh did not happen (refused or failing).
    consent_expiry_alert_days: float = Field(default=7.0, ge=0, le=89)
    source_name: str = "openbanking"
    # Institutions (bank_code_std) whose accounts this source reports: Samsung Securities.
    institutions: tuple[Institution, ...] = (Institution.SAMSUNG_SECURITIES,)
    # Our own per-user budget (the relay publishes no rate limit, spec §6 gap).
    user_budget_per_minute: PositiveInt = 30
    timeout_seconds: PositiveFloat = 10.0
    connect_timeout_seconds: PositiveFloat = 5.0
    # Tokens live 90 days (spec §1.7); refresh this long before they expire.
    refresh_ahead_days: float = Field(default=10.0, ge=0, le=80)
    # bank_tran_ids reserved per database round trip for inquiries (unused ones are simply spent).
    tran_id_block: int = Field(default=25, ge=1, le=500)
    # Safety stop for one transaction listing (25 rows a page, spec §2.4).
    max_pages: int = Field(default=20_000, ge=1)
    transfers: TransferSettings = TransferSettings()

    @model_validator(mode="after")
    def _check(self) -> OpenBankingSettings:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        scopes = self.scope.split()
        if len(set(scopes)) != len(scopes) or not set(scopes) <= USER_SCOPES:
            raise ValueError(f"scope: space-separated, each one of {sorted(USER_SCOPES)}")
        if not {"login", "inquiry"} <= set(scopes):
            raise ValueError("scope must include login and inquiry (account list and reads)")
        return self

    @property
    def host(self) -> str:
        """The relay base URL, without a trailing slash."""
        return self.base_url.rstrip("/")

    @property
    def is_production(self) -> bool:
        return self.host == PRODUCTION_HOST

    def limit_key(self, user_id: str) -> str:
        """The rate-limiter key of one user's reads: `openbanking_user:<user_id>`."""
        return f"{LIMIT_KIND}:{user_id}"

    def rate_limits(self) -> dict[str, tuple[RateSpec, ...]]:
        """The per-user budget, to merge into `ResilienceSettings.rate_limits`."""
        return {LIMIT_KIND: (RateSpec(limit=self.user_budget_per_minute, per="minute"),)}

    def http_timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.timeout_seconds, connect=self.connect_timeout_seconds)
