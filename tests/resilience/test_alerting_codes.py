"""Alert classification follows the vendor's meaning before the HTTP status."""

from __future__ import annotations

from adapters.http.alerting import classify
from orchestrator.domain.alerts import Severity
from orchestrator.domain.errors import AuthError, ConsentRequired, RateLimited, TokenExpired


def test_a_throttle_answered_with_403_is_throttling_not_an_auth_failure() -> None:
    """KIS answers token-issue throttling (EGW00133) with HTTP 403: a warning, not critical."""
    alert = classify("kis", "token", 403, RateLimited("kis", "wait a minute", code="EGW00133"))

    assert alert is not None
    assert alert.key == "upstream.kis.throttled"
    assert alert.severity is Severity.WARNING


def test_an_auth_failure_is_critical() -> None:
    """A refused credential raises a critical auth alert."""
    alert = classify("kis", "balance", 403, AuthError("kis", "bad token", code="EGW00121"))

    assert alert is not None
    assert alert.key == "upstream.kis.auth"
    assert alert.severity is Severity.CRITICAL


def test_an_expired_token_the_adapter_renews_is_a_warning() -> None:
    """Token expiry is routine (the adapter renews it): warned, not paged as an auth failure."""
    alert = classify("kis", "balance", 500, TokenExpired("kis", "expired", code="EGW00123"))

    assert alert is not None
    assert alert.key == "upstream.kis.token_renewed"
    assert alert.severity is Severity.WARNING


def test_one_investors_ended_consent_is_not_an_upstream_auth_alert() -> None:
    """A refused refresh of one user's consent is reported by its owner (a stale_source break
    naming the investor), not paged as the client's authentication failing."""
    ended = ConsentRequired("openbanking", "refresh refused", code="O0001")

    assert classify("openbanking", "token", 200, ended) is None
    assert classify("openbanking", "token", 200, AuthError("openbanking", "bad client")) is not None
