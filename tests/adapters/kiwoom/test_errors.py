"""The Kiwoom code map is total and classified by what the caller does next; token renewal,
throttling, lost replies and refusals behave so against the sandbox."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.kiwoom.errors import CODES, Kind, classify, code_of, error_for, translator
from orchestrator.domain.errors import (
    AuthError,
    OrderOutcomeUnknown,
    OrderRejected,
    RateLimited,
    RequestRefused,
    SourceUnavailable,
    TokenExpired,
)
from orchestrator.domain.model import OrderState, Side
from tests.adapters.kiwoom.conftest import ORDER_PATH, TOKEN_PATH, Harness, HarnessFactory
from tests.adapters.kiwoom.test_ports import intent

# Every code of the digest (§2.4) with the family the caller acts on.
DIGEST_CODES: dict[str, Kind] = {
    **dict.fromkeys(
        ["1501", "1504", "1505", "1511", "1512", "1513", "1515", "1516", "1517", "1687"],
        Kind.REFUSED,
    ),
    "1514": Kind.RENEW_TOKEN,
    "1634": Kind.REFUSED,
    "1700": Kind.RATE_LIMITED,
    "1901": Kind.REFUSED,
    "1902": Kind.REFUSED,
    "1999": Kind.RETRY,
    **dict.fromkeys(["8001", "8002", "8011", "8012", "8020"], Kind.CREDENTIALS),
    **dict.fromkeys(["8003", "8005", "8006", "8009", "8031", "8103"], Kind.RENEW_TOKEN),
    "8015": Kind.REFUSED,
    "8016": Kind.REFUSED,
    **dict.fromkeys(["8030", "8010", "8040", "8050"], Kind.CREDENTIALS),
    "RC4032": Kind.REJECTED,
}


def test_every_digest_code_is_in_the_map_with_its_family() -> None:
    assert {code: CODES.get(code) for code in DIGEST_CODES} == DIGEST_CODES


@given(
    code=st.one_of(st.sampled_from(sorted(CODES)), st.text(max_size=8)),
    status=st.integers(min_value=100, max_value=599),
    message=st.text(max_size=40),
    group=st.sampled_from(["", "1", "2", "3", "5", "99"]),
    order=st.booleans(),
)
def test_classify_is_total(code: str, status: int, message: str, group: str, order: bool) -> None:
    kind = classify(code, status, message, group)
    assert kind in set(Kind)
    error = error_for("kiwoom", code, message, status, return_code=group, sending_order=order)
    if order:
        assert isinstance(error, OrderRejected | OrderOutcomeUnknown | RateLimited | AuthError)
    else:
        assert not isinstance(error, OrderRejected | OrderOutcomeUnknown)


@pytest.mark.parametrize(
    ("family", "read", "order"),
    [
        (Kind.RATE_LIMITED, RateLimited, RateLimited),
        (Kind.RENEW_TOKEN, TokenExpired, TokenExpired),
        (Kind.CREDENTIALS, AuthError, AuthError),
        (Kind.RETRY, SourceUnavailable, OrderOutcomeUnknown),
        (Kind.REFUSED, RequestRefused, OrderRejected),
        (Kind.REJECTED, RequestRefused, OrderRejected),
    ],
)
def test_each_family_maps_to_what_the_caller_does_next(
    family: Kind, read: type[Exception], order: type[Exception]
) -> None:
    codes = [code for code, kind in CODES.items() if kind is family]
    assert codes
    for code in codes:
        assert type(error_for("kiwoom", code, "", 200)) is read
        assert type(error_for("kiwoom", code, "", 200, sending_order=True)) is order


def test_bracketed_code_decides_not_the_group() -> None:
    throttle = "허용된 요청 개수를 초과하였습니다[1700:허용된 요청 개수를 초과하였습니다]"
    batch = "허용된 요청 개수를 초과하였습니다[1634:허용된 요청 개수를 초과하였습니다]"
    assert code_of(throttle) == "1700"
    assert classify(code_of(throttle), 200, throttle, "5") is Kind.RATE_LIMITED
    assert classify(code_of(batch), 200, batch, "5") is Kind.REFUSED
    assert classify("1999", 200, "모의투자에서는 해당업무가 제공되지 않습니다") is Kind.REFUSED
    assert classify("", 200, "", "5") is Kind.RATE_LIMITED
    assert classify("", 401) is Kind.RENEW_TOKEN
    assert classify("", 503) is Kind.RETRY


def test_translator_reads_http_200_envelopes() -> None:
    translate = translator("kiwoom")
    ok = httpx.Response(200, json={"return_code": 0, "return_msg": "정상"})
    assert translate(ok) is None
    expired = httpx.Response(200, json={"return_code": 3, "return_msg": "x[8005:Token]"})
    assert isinstance(translate(expired), TokenExpired)
    html = httpx.Response(200, text="<html>")
    assert isinstance(translator("kiwoom", sending_order=True)(html), OrderOutcomeUnknown)
    assert isinstance(translate(httpx.Response(401, text="no")), TokenExpired)


async def test_expired_token_8005_is_renewed_once_and_the_order_sent_once(h: Harness) -> None:
    await h.kiwoom.accounts.cash(h.account, fresh=True)
    await h.faults(expire_tokens=True)
    report = await h.kiwoom.executor.submit(intent(h, 1, "005930", Side.BUY, 1))
    assert report.state is OrderState.ACCEPTED
    assert [o.kind for o in h.state.orders] == ["new"]
    assert h.kiwoom.tokens.issued == 2
    assert h.spy.api_ids(ORDER_PATH) == ["kt10000", "kt10000"]  # refused, then accepted


async def test_token_is_reissued_before_expiry(h: Harness) -> None:
    await h.kiwoom.market.quote("005930")
    await h.time.sleep(timedelta(hours=23, minutes=51).total_seconds())  # inside 600 s margin
    await h.kiwoom.market.quote("005930")
    assert len([r for r in h.spy.requests if r.url.path == TOKEN_PATH]) == 2
    assert h.state.windows.refused == 0


async def test_tokens_are_cached_per_environment_and_key(make_harness: HarnessFactory) -> None:
    real = await make_harness("real")
    mock = await make_harness("mock")
    assert real.kiwoom.tokens.vault_key != mock.kiwoom.tokens.vault_key
    assert real.kiwoom.tokens.vault_key.startswith("kiwoom.token.real.")
    # A mock token handed to the real host (a shared cache) is 8031: re-issued, then served.
    real.vault.rows[real.kiwoom.tokens.vault_key] = mock.vault.rows[mock.kiwoom.tokens.vault_key]
    fresh = real.build()
    assert (await fresh.market.quote("005930")).price == Decimal(71_500)
    assert fresh.tokens.issued == 1


@pytest.mark.parametrize("style", ["return_code", "http429"])
async def test_throttle_1700_or_429_is_retried_after_backoff(h: Harness, style: str) -> None:
    h.state.throttle_style = style  # type: ignore[assignment]
    await h.faults(rate_limit={"count": 2, "api_ids": ["kt10000"]})
    report = await h.kiwoom.executor.submit(intent(h, 2, "005930", Side.BUY, 1))
    assert report.state is OrderState.ACCEPTED
    assert h.spy.api_ids(ORDER_PATH) == ["kt10000"] * 3
    assert [o.kind for o in h.state.orders] == ["new"]
    assert [s for s in h.time.sleeps if s >= 1] == [1.0, 2.0]  # 1 s -> 2 s backoff


async def test_lost_reply_and_5xx_on_an_order_are_unknown_never_resent(h: Harness) -> None:
    await h.faults(lost_reply={"count": 1})
    with pytest.raises(OrderOutcomeUnknown):
        await h.kiwoom.executor.submit(intent(h, 3, "005930", Side.BUY, 1))
    await h.faults(error_5xx={"count": 1, "api_ids": ["kt10000"]})
    with pytest.raises(OrderOutcomeUnknown):
        await h.kiwoom.executor.submit(intent(h, 4, "005930", Side.BUY, 1))
    assert h.spy.api_ids(ORDER_PATH) == ["kt10000", "kt10000"]
    assert len(h.state.orders) == 1  # the lost reply was booked; the 5xx was not
    listed = await h.kiwoom.executor.orders_since(h.account, h.time.now() - timedelta(minutes=1))
    assert [r.order_id for r in listed] == [h.state.orders[0].ord_no]


async def test_reads_retry_5xx(h: Harness) -> None:
    await h.faults(error_5xx={"count": 2, "api_ids": ["ka10001"]})
    assert (await h.kiwoom.market.quote("005930")).price == Decimal(71_500)
    assert h.spy.api_ids().count("ka10001") == 3


async def test_refusals_are_rejections(h: Harness) -> None:
    with pytest.raises(OrderRejected) as funds:
        await h.kiwoom.executor.submit(intent(h, 5, "005930", Side.BUY, 100_000))
    assert funds.value.code == "SB0001"
    with pytest.raises(OrderRejected) as unknown:
        await h.kiwoom.executor.submit(intent(h, 6, "999999", Side.BUY, 1))
    assert unknown.value.code == "1902"
    with pytest.raises(RequestRefused) as wrong:
        await h.kiwoom.market.quote("999999")
    assert wrong.value.code == "1902"


async def test_wrong_environment_key_is_a_credentials_error(make_harness: HarnessFactory) -> None:
    h = await make_harness("real")
    mock_key = await make_harness("mock")
    broken = h.build(app_key=mock_key.settings.app_key, secret_key=mock_key.settings.secret_key)
    with pytest.raises(AuthError) as e:
        await broken.market.quote("005930")
    assert e.value.code == "8030"
    assert not isinstance(e.value, TokenExpired)


async def test_revoke(h: Harness) -> None:
    await h.kiwoom.market.quote("005930")
    await h.kiwoom.tokens.revoke()
    assert all(t.revoked for t in h.state.tokens.values())
    assert h.vault.rows == {}
    await h.kiwoom.market.quote("005930")
    assert h.kiwoom.tokens.issued == 2
