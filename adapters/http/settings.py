"""Settings of the shared upstream layer: rate limits, retry, breaker, cache, skew, alerts."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    model_validator,
)
from pyrate_limiter import Rate
from pyrate_limiter.utils import enforce_rate_list

_UNIT_SECONDS: dict[str, float] = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}


class RateSpec(BaseModel):
    """At most `limit` calls in any rolling window of `per` (a unit name or a number of seconds)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    limit: PositiveInt
    per: Literal["second", "minute", "hour", "day"] | PositiveFloat = "second"
    # Space calls at least 90 % of per/limit apart instead of letting `limit` go out at once.
    # A burst's requests leave (and open connections) one after another, so they reach the
    # upstream spread out while the next window's burst arrives all at once: the upstream then
    # counts more than `limit` in one window. Spread calls reach it as they were admitted.
    spread: bool = False

    @property
    def interval_seconds(self) -> float:
        return _UNIT_SECONDS[self.per] if isinstance(self.per, str) else float(self.per)


def pyrate_rates(specs: Sequence[RateSpec], *, guard_seconds: float = 0.0) -> list[Rate]:
    """The pyrate-limiter rates for one key, ordered as its buckets require (ValueError if not).

    Each window is lengthened by `guard_seconds`: requests reach the upstream a little after we
    admit them, by an amount that varies (connection set-up, a busy event loop).
    """
    rates: list[Rate] = []
    for spec in specs:
        interval_ms = max(1, round((spec.interval_seconds + guard_seconds) * 1000))
        rates.append(Rate(spec.limit, interval_ms))
        if spec.spread and spec.limit > 1:
            rates.append(Rate(1, max(1, math.floor(0.9 * interval_ms / spec.limit))))
    rates.sort(key=lambda rate: rate.interval)
    # A longer window that a shorter one never lets fill (lengthened windows can make 1,000/min
    # looser than 18/s) cannot bind: it is dropped rather than refused as out of order.
    kept: list[Rate] = []
    for rate in rates:
        if not any(
            shorter.limit * math.ceil(rate.interval / shorter.interval) <= rate.limit
            for shorter in kept
        ):
            kept.append(rate)
    enforce_rate_list(kept)
    return kept


# Keys are "<kind>:<id>"; a kind's rates apply to each id separately. KIS allows 18 requests/s per
# account (notice of 2026-04-20); 1,000/min is a third-party figure kept as a second guard.
# 30/min is our own default budget per open-banking user.
DEFAULT_RATE_LIMITS: dict[str, tuple[RateSpec, ...]] = {
    "kis_account": (
        RateSpec(limit=18, per="second", spread=True),  # KIS's own sample spaces calls 50 ms
        RateSpec(limit=1000, per="minute"),
    ),
    "kis_paper_account": (RateSpec(limit=1, per="second"),),
    "openbanking_user": (RateSpec(limit=30, per="minute"),),
}


class ResilienceSettings(BaseModel):
    """How every upstream call is limited, retried, guarded, cached and watched."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Exact keys ("kis_account:paper-1") win over kinds ("kis_account").
    rate_limits: dict[str, tuple[RateSpec, ...]] = Field(
        default_factory=lambda: dict(DEFAULT_RATE_LIMITS)
    )
    max_wait_seconds: float = Field(5.0, ge=0)
    # Added to every window so jitter between admitting and arriving cannot exceed a limit: an
    # admitted request waits on the event loop at every await before its bytes leave, and with
    # a worker's 16 tasks busy that wait reaches tens of ms (20 ms let 2-3 of ~800 calls of a
    # 200-investor fire on 2 workers be refused EGW00201; 100 ms lets none). Costs 18/s -> 16.4/s.
    rate_guard_seconds: float = Field(0.1, ge=0, le=1)

    retry_attempts: int = Field(5, ge=1, le=20)
    backoff_initial_seconds: PositiveFloat = 1.0
    # The house rule caps backoff at 30 s; a shorter cap is allowed, a longer one is not.
    backoff_max_seconds: float = Field(30.0, gt=0, le=30)
    backoff_jitter_seconds: float = Field(1.0, ge=0)

    breaker_failure_threshold: int = Field(5, ge=1)
    breaker_recovery_seconds: PositiveFloat = 30.0
    # With Redis: how often a replica re-reads a circuit's shared state (it sees another
    # replica's opening within this long; its own changes are written at once).
    breaker_refresh_seconds: float = Field(1.0, gt=0, le=30)

    cache_ttl_seconds: float = Field(45.0, ge=30, le=60)
    skew_warn_seconds: PositiveFloat = 2.0
    alert_dedup_seconds: float = Field(300.0, ge=0)

    # Shared limiter budgets and breaker state across replicas; may carry a password.
    redis_url: SecretStr | None = None

    def effective_rate_limits(
        self, *vendor_defaults: Mapping[str, tuple[RateSpec, ...]]
    ) -> dict[str, tuple[RateSpec, ...]]:
        """The budgets actually used. Precedence, lowest first:

        1. this layer's `DEFAULT_RATE_LIMITS` (by kind);
        2. each adapter's declared vendor defaults (`KisSettings.rate_limits()`, ...), usually
           exact keys such as `kis_account:<app key fingerprint>`;
        3. `resilience.rate_limits` as configured: a configured kind replaces the vendor's exact
           keys of that kind, a configured exact key replaces that key only.
        """
        limits: dict[str, tuple[RateSpec, ...]] = dict(DEFAULT_RATE_LIMITS)
        for declared in vendor_defaults:
            limits.update(declared)
        configured = self.rate_limits if "rate_limits" in self.model_fields_set else {}
        kinds = {k: v for k, v in configured.items() if ":" not in k}
        for kind, specs in kinds.items():
            for key in [k for k in limits if k.startswith(f"{kind}:")]:
                del limits[key]
            limits[kind] = specs
        limits.update({k: v for k, v in configured.items() if ":" in k})
        return limits

    @model_validator(mode="after")
    def _check(self) -> ResilienceSettings:
        if self.backoff_initial_seconds > self.backoff_max_seconds:
            raise ValueError("backoff_initial_seconds must not exceed backoff_max_seconds")
        for key, specs in self.rate_limits.items():
            if not specs:
                raise ValueError(f"rate_limits.{key}: needs at least one rate")
            try:
                pyrate_rates(specs, guard_seconds=self.rate_guard_seconds)
            except ValueError:
                raise ValueError(
                    f"rate_limits.{key}: longer windows need larger limits and a lower rate"
                ) from None
        return self
