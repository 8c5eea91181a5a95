"""Settings of the KIS adapter (`kis:` section of the YAML), validated with `extra="forbid"`.

Credentials are secret references (env:/file:/literal:) resolved into SecretStr at load time; the
account number is one too, since it identifies a person. Real and paper are separate worlds at
KIS (different hosts, app keys, accounts and TR ids; spec §1), so one section configures one.
"""

from __future__ import annotations

import hashlib
import re
from typing import Annotated, Literal

import httpx
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    StringConstraints,
    field_validator,
)

from adapters.http.settings import RateSpec
from orchestrator.settings import SecretRef

Env = Literal["real", "paper"]

# Spec §1 (OTA kis_devlp.yaml, PYKIS __env__.py).
OFFICIAL_HOSTS: dict[Env, str] = {
    "real": "https://openapi.koreainvestment.com:9443",
    "paper": "https://openapivts.koreainvestment.com:29443",
}
# Spec §7.1 (PORTAL notice 2026-04-20): per app key; 1,000/min is a third-party figure kept as a
# second guard, as in adapters.http.settings.
DEFAULT_PER_SECOND: dict[Env, int] = {"real": 18, "paper": 1}
LIMIT_KINDS: dict[Env, str] = {"real": "kis_account", "paper": "kis_paper_account"}
_ACCOUNT = re.compile(r"^\d{8}-\d{2}$")
# Spec §1: plain ws://, its own port per environment; the official user samples add /tryitout.
OFFICIAL_WS: dict[Env, str] = {
    "real": "ws://ops.koreainvestment.com:21000/tryitout",
    "paper": "ws://ops.koreainvestment.com:31000/tryitout",
}


class KisRealtimeSettings(BaseModel):
    """The real-time websocket session (`kis.realtime`): notices for the account's HTS ID,
    trade prices for `symbols`.

    `enabled` None means on for real when an `hts_id` is set, off for paper: KIS limits paper
    (1 REST call per second for the gap fills after every reconnect, paper notices that lag,
    a separate websocket port), so paper turns it on only when asked (`enabled: true`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool | None = None
    # None: the official websocket URL of `env` (spec §1).
    url: str | None = None
    # Execution notices are registered per HTS ID (spec §7.2); required for notices.
    hts_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_]{1,16}$")
    # Trade prices (H0STCNT0) subscribed for valuation and workflow pricing.
    symbols: tuple[Annotated[str, StringConstraints(pattern=r"^(Q\d{6}|\d{6})$")], ...] = ()
    # A stream price older than this is stale: the REST quote is used instead.
    price_stale_seconds: PositiveFloat = 5.0
    reconnect_base_seconds: PositiveFloat = 1.0
    reconnect_cap_seconds: PositiveFloat = 30.0
    # Nothing heard (not even PINGPONG) for this long: the connection is taken as dead.
    silence_timeout_seconds: PositiveFloat = 60.0

    @field_validator("url")
    @classmethod
    def _ws_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("ws://", "wss://")):
            raise ValueError("must start with ws:// or wss://")
        return value

    @field_validator("symbols")
    @classmethod
    def _room(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # 40 registrations per session (spec §7.2), one of them the notices.
        if len(value) > 39:
            raise ValueError("at most 39 symbols (40 registrations per session, one for notices)")
        if len(set(value)) != len(value):
            raise ValueError("symbols repeat")
        return value


class KisSettings(BaseModel):
    """One KIS app key and the account it trades, on the real or the paper host."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: Env = "paper"
    # None: the official host of `env`. Sandbox mode points this anywhere (the in-process
    # transport ignores the host).
    base_url: str | None = None
    app_key: SecretRef
    app_secret: SecretRef
    # "CANO-ACNT_PRDT_CD", e.g. 50012345-01 (8 + 2 digits).
    account: SecretRef
    user_id: str = "demo"
    account_id: str | None = None

    # None: 18/s real, 1/s paper (spec §7.1).
    rate_limit_per_second: PositiveInt | None = None
    timeout_seconds: PositiveFloat = 10.0
    connect_timeout_seconds: PositiveFloat = 5.0
    # Spec §2.3: optional at KIS today; when on, every order body is hashed first.
    use_hashkey: bool = False
    custtype: Literal["P", "B"] = "P"

    max_pages: int = Field(default=100, ge=1, le=1000)
    max_paging_restarts: int = Field(default=3, ge=0, le=20)
    # A stored token is used until this long before its KST expiry.
    token_refresh_margin_seconds: float = Field(default=60.0, ge=0, le=3600)
    # How long token issuance may wait out EGW00133 (1 per minute) before giving up.
    token_wait_max_seconds: float = Field(default=300.0, ge=0)
    # Cross-process token lock wait before giving up (another process is issuing).
    token_lock_timeout_seconds: PositiveFloat = 180.0
    realtime: KisRealtimeSettings = KisRealtimeSettings()

    @field_validator("account")
    @classmethod
    def _account_format(cls, value: SecretStr) -> SecretStr:
        if not _ACCOUNT.fullmatch(value.get_secret_value()):
            raise ValueError("must look like CANO-ACNT_PRDT_CD (8 digits, dash, 2 digits)")
        return value

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @property
    def host(self) -> str:
        """The REST base URL, without a trailing slash."""
        return (self.base_url or OFFICIAL_HOSTS[self.env]).rstrip("/")

    @property
    def fingerprint(self) -> str:
        """A short, non-reversible name for the app key (logs, limiter and vault keys)."""
        return hashlib.sha256(self.app_key.get_secret_value().encode()).hexdigest()[:12]

    @property
    def limit_key(self) -> str:
        """The rate-limiter key of this app key: `<kind>:<fingerprint>`."""
        return f"{LIMIT_KINDS[self.env]}:{self.fingerprint}"

    @property
    def per_second(self) -> int:
        return self.rate_limit_per_second or DEFAULT_PER_SECOND[self.env]

    def rate_limits(self) -> dict[str, tuple[RateSpec, ...]]:
        """The limiter budget of this app key, to merge into `ResilienceSettings.rate_limits`."""
        # Spread: a burst of `per_second` calls reaches KIS unevenly (connections open one after
        # another) and can exceed its window there; KIS's own sample spaces calls too.
        specs: tuple[RateSpec, ...] = (RateSpec(limit=self.per_second, per="second", spread=True),)
        if self.env == "real":
            specs += (RateSpec(limit=1000, per="minute"),)
        return {self.limit_key: specs}

    def http_timeout(self) -> httpx.Timeout:
        """Per-request timeouts: `timeout_seconds` overall, `connect_timeout_seconds` to connect."""
        return httpx.Timeout(self.timeout_seconds, connect=self.connect_timeout_seconds)

    @property
    def realtime_enabled(self) -> bool:
        rt = self.realtime
        if rt.enabled is None:
            return self.env == "real" and rt.hts_id is not None
        return rt.enabled

    @property
    def ws_url(self) -> str:
        return self.realtime.url or OFFICIAL_WS[self.env]

    @property
    def resolved_account_id(self) -> str:
        return self.account_id or f"kis-{self.env}"
