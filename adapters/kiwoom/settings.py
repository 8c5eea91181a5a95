"""Settings of the Kiwoom adapter (`brokers.kiwoom:` in the YAML), validated with `extra="forbid"`.

Credentials are secret references (env:/file:/literal:) resolved into SecretStr at load time.
Real and mock are separate worlds at Kiwoom (hosts, app keys; digest §2.6), so one section
configures one. No account number is configured: Kiwoom binds the account to the app key.
"""

from __future__ import annotations

import hashlib
from typing import Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, field_validator

from adapters.http.settings import RateSpec
from orchestrator.settings import SecretRef

Env = Literal["real", "mock"]

# Digest §1 (KW-OFF auth.py DEFAULT_BASE_URLS).
OFFICIAL_HOSTS: dict[Env, str] = {
    "real": "https://api.kiwoom.com",
    "mock": "https://mockapi.kiwoom.com",
}


class KiwoomSettings(BaseModel):
    """One Kiwoom app key (and the account bound to it), on the real or the mock host."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: Env = "mock"
    base_url: str | None = None  # None: the official host of `env`
    app_key: SecretRef
    secret_key: SecretRef
    user_id: str = "demo"
    account_id: str | None = None  # our name for the account (default kiwoom-<env>)
    # Digest §2.5 (terms of use, Art. 11): 5 queries/s and 5 orders/s per app key.
    queries_per_second: PositiveInt = 5
    orders_per_second: PositiveInt = 5
    # Mock is KRX only (digest §2.6); real may route to NXT or SOR.
    exchange: Literal["KRX", "NXT", "SOR"] = "KRX"
    timeout_seconds: PositiveFloat = 10.0
    connect_timeout_seconds: PositiveFloat = 5.0
    max_pages: int = Field(default=200, ge=1, le=2000)
    # The official client re-issues 600 s before `expires_dt` (digest §2.2).
    token_refresh_margin_seconds: float = Field(default=600.0, ge=0, le=3600)
    token_lock_timeout_seconds: PositiveFloat = 180.0
    # kt00010 wants an instrument and a price even for the cash figures we read from it.
    cash_probe_symbol: str = Field(default="005930", pattern=r"^\d{6}$")

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @property
    def venue(self) -> str:
        return "KRX" if self.env == "mock" else self.exchange

    @property
    def host(self) -> str:
        return (self.base_url or OFFICIAL_HOSTS[self.env]).rstrip("/")

    @property
    def fingerprint(self) -> str:
        """A short, non-reversible name for the app key (logs, limiter and vault keys)."""
        return hashlib.sha256(self.app_key.get_secret_value().encode()).hexdigest()[:12]

    @property
    def query_limit_key(self) -> str:
        return f"kiwoom_queries:{self.env}:{self.fingerprint}"

    @property
    def order_limit_key(self) -> str:
        return f"kiwoom_orders:{self.env}:{self.fingerprint}"

    def rate_limits(self) -> dict[str, tuple[RateSpec, ...]]:
        """The two budgets of this app key, to merge into `ResilienceSettings.rate_limits`."""
        return {
            self.query_limit_key: (
                RateSpec(limit=self.queries_per_second, per="second", spread=True),
            ),
            self.order_limit_key: (
                RateSpec(limit=self.orders_per_second, per="second", spread=True),
            ),
        }

    def http_timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.timeout_seconds, connect=self.connect_timeout_seconds)

    @property
    def resolved_account_id(self) -> str:
        return self.account_id or f"kiwoom-{self.env}"
