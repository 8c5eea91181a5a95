"""Each class of failure a read can meet, as the sandbox produces it, and what the adapter does."""

from __future__ import annotations

from datetime import date

import pytest

from adapters.http import CircuitOpen
from adapters.openbanking.endpoints import BALANCE, TRANSACTIONS
from orchestrator.domain.errors import (
    AccountUnknown,
    AuthError,
    ConsentRequired,
    RateLimited,
    RequestRefused,
    SourceUnavailable,
)

from .conftest import ACCIDENT, CMA, OTHER_CMA, Harness, account_ref

FROM, TO = date(2026, 1, 1), date(2026, 3, 10)


def _ids(harness: Harness, path: str) -> list[str]:
    return [r.url.params["bank_tran_id"] for r in harness.transport.to(path)]


async def test_5xx_is_retried_with_backoff_and_a_fresh_id(granted: Harness) -> None:
    """Two 503s then success: three attempts, backoff sleeps, a new bank_tran_id each time."""
    await granted.fault(kind="http_error", status=503, count=2, path=BALANCE.path)

    cash = await granted.ob.source.cash(account_ref(CMA), fresh=True)

    assert cash.deposit > 0
    ids = _ids(granted, BALANCE.path)
    assert len(ids) == 3
    assert len(set(ids)) == 3
    assert granted.time.sleeps == [1.0, 2.0]


async def test_a_processed_then_failed_inquiry_is_retried_with_a_new_id(granted: Harness) -> None:
    """A0003 after the relay spent the id: the retry's fresh id avoids A0326 (spec §3.4)."""
    await granted.fault(kind="rsp_code", rsp_code="A0003", phase="after", count=1)

    rows = [t async for t in granted.ob.source.transactions(account_ref(CMA), FROM, TO)]

    assert len(rows) == 60
    ids = _ids(granted, TRANSACTIONS.path)
    assert len(ids) == 4
    assert len(set(ids)) == 4


async def test_a_lost_inquiry_reply_is_retried(granted: Harness) -> None:
    """A dropped connection after processing is read as unavailable and asked again."""
    await granted.fault(kind="drop", phase="after", count=1, path=BALANCE.path)

    cash = await granted.ob.source.cash(account_ref(CMA), fresh=True)

    assert cash.deposit > 0
    assert len(_ids(granted, BALANCE.path)) == 2


async def test_persistent_5xx_is_source_unavailable_then_opens_the_breaker(
    granted: Harness,
) -> None:
    """Retries exhausted: SourceUnavailable; after the threshold the breaker stops calls."""
    await granted.fault(kind="http_error", status=503)

    with pytest.raises(SourceUnavailable):
        await granted.ob.source.cash(account_ref(CMA), fresh=True)
    with pytest.raises(CircuitOpen):
        await granted.ob.source.cash(account_ref(CMA), fresh=True)


async def test_maintenance_window_is_retry_later(granted: Harness) -> None:
    """A0020 (outside inquiry hours) is unavailable, retried, then surfaced as such."""
    await granted.fault(kind="rsp_code", rsp_code="A0020", count=1)

    cash = await granted.ob.source.cash(account_ref(CMA), fresh=True)

    assert cash.deposit > 0


async def test_quota_is_rate_limited(granted: Harness) -> None:
    """O0009 (API plan usage exceeded) is RateLimited."""
    await granted.fault(kind="rsp_code", rsp_code="O0009")

    with pytest.raises(RateLimited):
        await granted.ob.source.cash(account_ref(CMA), fresh=True)


async def test_wrong_token_type_is_an_auth_error(granted: Harness) -> None:
    """O0011 (scope not allowed) asks the operator for credentials, not the user for consent."""
    await granted.fault(kind="rsp_code", rsp_code="O0011", count=1)

    with pytest.raises(AuthError) as caught:
        await granted.ob.source.accounts("demo")

    assert not isinstance(caught.value, ConsentRequired)


async def test_missing_inquiry_consent_is_consent_required(granted: Harness) -> None:
    """A0305 (third-party provision consent missing) needs a person."""
    await granted.fault(kind="rsp_code", rsp_code="A0305", count=1)

    with pytest.raises(ConsentRequired):
        await granted.ob.source.cash(account_ref(CMA), fresh=True)


async def test_reading_without_consent_is_consent_required(harness: Harness) -> None:
    """No consent yet: ConsentRequired before anything is sent."""
    with pytest.raises(ConsentRequired):
        await harness.ob.source.accounts("demo")

    assert harness.transport.requests == []


async def test_someone_elses_account_is_unknown(granted: Harness) -> None:
    """A0304 (fintech_use_num not ours) is AccountUnknown."""
    with pytest.raises(AccountUnknown):
        await granted.ob.source.cash(account_ref(OTHER_CMA), fresh=True)


async def test_participant_refusal_is_request_refused(granted: Harness) -> None:
    """A0002 + bank 419 (accident-reported account) is refused, not retried."""
    with pytest.raises(RequestRefused) as caught:
        await granted.ob.source.cash(account_ref(ACCIDENT), fresh=True)

    assert caught.value.code == "A0002/419"
    assert len(granted.transport.to(BALANCE.path)) == 1


async def test_format_error_is_refused_once(granted: Harness) -> None:
    """A0004 is our bug: RequestRefused, never retried."""
    await granted.fault(kind="rsp_code", rsp_code="A0004", count=3, path=TRANSACTIONS.path)

    with pytest.raises(RequestRefused):
        [t async for t in granted.ob.source.transactions(account_ref(CMA), FROM, TO)]

    assert len(granted.transport.to(TRANSACTIONS.path)) == 1


async def test_a_failure_mid_stream_surfaces_after_the_rows_already_read(granted: Harness) -> None:
    """Page 2 failing for good: page 1's rows were yielded, then the error is raised."""
    source = granted.ob.source
    stream = source.transactions(account_ref(CMA), FROM, TO)
    got = [await anext(stream) for _ in range(25)]
    await granted.fault(kind="rsp_code", rsp_code="A0004", path=TRANSACTIONS.path)

    with pytest.raises(RequestRefused):
        await anext(stream)

    assert len(got) == 25
