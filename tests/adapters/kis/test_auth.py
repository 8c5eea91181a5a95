"""Token lifecycle against the sandbox: stored, reused across restarts, renewed, throttled."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from structlog.testing import capture_logs

from adapters.fake import FakeTokenVault
from orchestrator.domain.errors import RateLimited
from tests.adapters.kis.conftest import (
    BALANCE,
    SESSION_TIME,
    TOKEN,
    Harness,
    HarnessFactory,
)
from tests.adapters.kis.support import intent


async def _issue_directly(harness: Harness) -> str:
    """tokenP called by someone else (another tool on the same app key)."""
    transport = httpx.ASGITransport(app=harness.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as raw:
        response = await raw.post(
            TOKEN,
            json={
                "grant_type": "client_credentials",
                "appkey": harness.settings.app_key.get_secret_value(),
                "appsecret": harness.settings.app_secret.get_secret_value(),
            },
        )
    assert response.status_code == 200
    token: str = response.json()["access_token"]
    return token


async def test_token_is_issued_once_and_stored_with_its_kst_expiry(real: Harness) -> None:
    """The first call issues one token and stores it with the KST expiry KIS reported."""
    await real.kis.accounts.cash(real.account, fresh=True)
    await real.kis.market.quote("005930")

    assert real.spy.count(TOKEN) == 1
    assert isinstance(real.vault, FakeTokenVault)
    value, expires_at, meta = real.vault.rows[real.kis.tokens.vault_key]
    assert expires_at is not None
    assert expires_at == SESSION_TIME + timedelta(hours=24)  # "2026-03-13 10:00:00" KST
    assert meta == {"env": "real", "app": real.settings.fingerprint}
    assert all(r.headers["authorization"] == f"Bearer {value}" for r in real.spy.sent(BALANCE))


async def test_token_is_reused_across_a_restart(real: Harness) -> None:
    """A new adapter instance on the same vault uses the stored token: no new tokenP call."""
    await real.kis.accounts.cash(real.account, fresh=True)

    restarted = real.restart()
    await restarted.accounts.positions(real.account, fresh=True)

    assert real.spy.count(TOKEN) == 1
    assert restarted.tokens.issued == 0


async def test_token_near_expiry_is_replaced(real: Harness) -> None:
    """A stored token inside the refresh margin of its expiry is not used; a new one is issued."""
    await real.kis.accounts.cash(real.account, fresh=True)
    real.time.advance(24 * 3600 - 30)  # 30 s before expiry, inside the 60 s margin

    restarted = real.restart()
    await restarted.accounts.cash(real.account, fresh=True)

    assert real.spy.count(TOKEN) == 2


async def test_expired_token_is_reissued_once_and_the_call_retried(real: Harness) -> None:
    """EGW00123 on a call renews the token once and sends the call once more."""
    await real.kis.accounts.cash(real.account, fresh=True)
    real.time.advance(61)
    await real.faults(expire_tokens=True)
    balance_before = real.spy.count(BALANCE)

    with capture_logs() as logs:
        cash = await real.kis.accounts.cash(real.account, fresh=True)

    assert cash.deposit > 0
    assert real.spy.count(TOKEN) == 2
    assert real.spy.count(BALANCE) - balance_before == 2
    assert [e["code"] for e in logs if e["event"] == "kis.token_refused"] == ["EGW00123"]


async def test_expired_token_on_an_order_renews_and_books_once(real: Harness) -> None:
    """EGW00123 refuses an order before acceptance: renewed, resent once, booked once."""
    await real.kis.accounts.cash(real.account, fresh=True)
    real.time.advance(61)
    await real.faults(expire_tokens=True)

    report = await real.kis.executor.submit(intent(real.account))

    assert [o.odno for o in real.orders()] == [report.order_id]
    assert real.spy.count(TOKEN) == 2


async def test_token_throttle_is_waited_out(real: Harness) -> None:
    """EGW00133 (1 token per minute) is waited out with the injected sleep, then issued."""
    await _issue_directly(real)

    with capture_logs() as logs:
        cash = await real.kis.accounts.cash(real.account, fresh=True)

    assert cash.deposit > 0
    assert real.spy.count(TOKEN) == 2
    assert real.time.sleeps[:1] == [60.0]
    assert any(e["event"] == "kis.token_throttled" for e in logs)


async def test_token_throttle_beyond_the_wait_budget_is_rate_limited(
    make_harness: HarnessFactory,
) -> None:
    """With no wait budget left, EGW00133 surfaces as RateLimited (retry later)."""
    harness = await make_harness("real", token_wait_max_seconds=0)
    await _issue_directly(harness)

    with pytest.raises(RateLimited) as raised:
        await harness.kis.accounts.cash(harness.account, fresh=True)

    assert raised.value.code == "EGW00133"
    assert harness.spy.count(BALANCE) == 0


async def test_concurrent_callers_share_one_issuance(real: Harness) -> None:
    """Many coroutines (and a second instance on the same vault) trigger one tokenP call."""
    other = real.restart()

    await asyncio.gather(
        *(real.kis.market.quote("005930") for _ in range(5)),
        *(other.market.quote("005930") for _ in range(5)),
    )

    assert real.spy.count(TOKEN) == 1


async def test_secrets_never_reach_the_logs(real: Harness) -> None:
    """No log event carries the token, the app key, the app secret or the account number."""
    with capture_logs() as logs:
        await real.kis.accounts.cash(real.account, fresh=True)
        await real.kis.executor.submit(intent(real.account))
        real.time.advance(61)
        await real.faults(expire_tokens=True)
        await real.kis.accounts.positions(real.account, fresh=True)

    token = real.vault.rows[real.kis.tokens.vault_key][0]  # type: ignore[attr-defined]
    secrets = [
        token,
        real.settings.app_key.get_secret_value(),
        real.settings.app_secret.get_secret_value(),
        "50012345",
    ]
    text = repr(logs)
    assert logs
    assert not [s for s in secrets if s in text]
