from __future__ import annotations

import pytest
from pydantic import ValidationError

from adapters.http import RateSpec, ResilienceSettings


def test_defaults_match_the_issue() -> None:
    """Defaults: 5 attempts, 1 s to 30 s backoff, breaker 5 / 30 s, 45 s cache, 2 s skew."""
    settings = ResilienceSettings()

    assert (settings.retry_attempts, settings.backoff_initial_seconds) == (5, 1.0)
    assert settings.backoff_max_seconds == 30.0
    assert (settings.breaker_failure_threshold, settings.breaker_recovery_seconds) == (5, 30.0)
    assert (settings.cache_ttl_seconds, settings.skew_warn_seconds) == (45.0, 2.0)
    assert settings.rate_limits["openbanking_user"] == (RateSpec(limit=30, per="minute"),)


@pytest.mark.parametrize("ttl", [29, 61])
def test_cache_ttl_must_stay_within_30_to_60_seconds(ttl: int) -> None:
    """A display cache TTL outside 30-60 s is refused."""
    with pytest.raises(ValidationError):
        ResilienceSettings(cache_ttl_seconds=ttl)


def test_unknown_keys_are_refused() -> None:
    """A misspelt setting fails validation instead of being ignored."""
    with pytest.raises(ValidationError):
        ResilienceSettings.model_validate({"retry_atempts": 3})


def test_rate_periods_by_name_or_seconds() -> None:
    """A rate's period is a unit name or a number of seconds."""
    assert RateSpec(limit=1000, per="minute").interval_seconds == 60.0
    assert RateSpec(limit=5, per=2.5).interval_seconds == 2.5


def test_inconsistent_rates_are_refused_at_startup() -> None:
    """A longer window with a smaller limit can never be honoured: refused when loading."""
    with pytest.raises(ValidationError):
        ResilienceSettings(
            rate_limits={
                "acct": (RateSpec(limit=10, per="second"), RateSpec(limit=5, per="minute"))
            }
        )
