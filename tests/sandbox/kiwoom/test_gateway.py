"""Token rules, api-id pairing, envelopes, rate limits and mock gaps of the Kiwoom sandbox."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import httpx

from adapters.sandbox.kiwoom.wire import KST
from tests.sandbox.kiwoom.conftest import REAL_ACCOUNT, Kiwoom


def code_of(response: httpx.Response) -> str:
    msg = response.json()["return_msg"]
    return msg[msg.rindex("[") + 1 : msg.rindex(":")]


async def test_token_has_kiwoom_fields_and_kst_expiry(connect: Callable[..., Kiwoom]) -> None:
    client = connect("real")
    reply = await client.issue()
    body = reply.json()
    assert reply.status_code == 200
    assert body["return_code"] == 0
    assert body["token_type"] == "bearer"
    assert "access_token" not in body
    assert "expires_in" not in body
    expiry = datetime.strptime(body["expires_dt"], "%Y%m%d%H%M%S").replace(tzinfo=KST)
    assert expiry == client.state.now() + timedelta(hours=24)


async def test_token_refusals(connect: Callable[..., Kiwoom]) -> None:
    client = connect("real")
    assert code_of(await client.issue(grant_type="")) == "8011"
    assert code_of(await client.issue(grant_type="password")) == "8012"
    assert code_of(await client.issue(secretkey="")) == "8020"
    assert code_of(await client.issue(appkey="NoSuchAppKey000")) == "8001"
    assert code_of(await client.issue(secretkey="WrongSecret0000")) == "8002"
    # appsecret (the KIS/LS spelling) is not secretkey
    reply = await client.http.post(
        "/oauth2/token",
        json={"grant_type": "client_credentials", "appkey": client.key, "appsecret": "x"},
    )
    assert code_of(reply) == "8020"


async def test_real_and_mock_keys_and_tokens_do_not_mix(connect: Callable[..., Kiwoom]) -> None:
    real, mock = connect("real"), connect("mock")
    assert code_of(await real.issue(appkey=mock.key, secretkey=mock.secret)) == "8030"
    mock_token = await mock.login()
    await real.login()
    reply = await real.tr("acnt", "ka00001", token=mock_token)
    assert reply.status_code == 200
    assert code_of(reply) == "8031"


async def test_account_is_bound_to_the_token(real: Kiwoom) -> None:
    reply = await real.tr("acnt", "ka00001")
    assert reply.json()["acctNo"] == REAL_ACCOUNT
    assert reply.headers["api-id"] == "ka00001"


async def test_api_id_pairing(real: Kiwoom) -> None:
    assert code_of(await real.tr("ordr", "kt00018")) == "1504"
    assert code_of(await real.tr("acnt", "")) == "1501"
    assert code_of(await real.tr("acnt", "zz99999")) == "1505"
    assert code_of(await real.tr("acnt", "kt00018", {"qry_tp": "1"})) == "1511"
    get = await real.http.get("/api/dostk/acnt", headers={"api-id": "ka00001"})
    assert get.status_code == 404
    assert "return_code" in get.json()


async def test_expired_and_revoked_tokens_are_8005_on_http_200(
    real: Kiwoom, connect: Callable[..., Kiwoom]
) -> None:
    real.state.clock.advance(24 * 3600)
    reply = await real.tr("acnt", "ka00001")
    assert reply.status_code == 200
    assert code_of(reply) == "8005"
    token = await real.login()
    revoked = await real.http.post(
        "/oauth2/revoke", json={"appkey": real.key, "secretkey": real.secret, "token": token}
    )
    assert revoked.json()["return_code"] == 0
    assert code_of(await real.tr("acnt", "ka00001")) == "8005"
    assert code_of(await real.tr("acnt", "ka00001", token="garbage")) == "8005"


async def test_rate_limit_per_bucket_as_return_code_5(real: Kiwoom) -> None:
    replies = [await real.tr("acnt", "ka00001") for _ in range(6)]
    assert [r.json()["return_code"] for r in replies] == [0, 0, 0, 0, 0, 5]
    assert replies[-1].status_code == 200
    assert code_of(replies[-1]) == "1700"
    # orders have their own 5/s bucket
    assert (await real.buy("005930", 1)).json()["return_code"] == 0
    real.state.clock.advance(1.0)
    assert (await real.tr("acnt", "ka00001")).json()["return_code"] == 0


async def test_rate_limit_as_http_429_when_configured(connect: Callable[..., Kiwoom]) -> None:
    client = connect("real", throttle_style="http429", queries_per_second=2)
    await client.login()
    statuses = [(await client.tr("acnt", "ka00001")).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


async def test_mock_is_krx_only_and_lacks_some_trs(connect: Callable[..., Kiwoom]) -> None:
    mock = connect("mock")
    await mock.login()
    assert code_of(await mock.tr("stkinfo", "ka10095", {"stk_cd": "005930"})) == "1999"
    body = {"dmst_stex_tp": "NXT", "stk_cd": "005930", "ord_qty": "1", "trde_tp": "3"}
    assert code_of(await mock.tr("ordr", "kt10000", body)) == "1999"
    assert code_of(await mock.tr("stkinfo", "ka10001", {"stk_cd": "005930_NX"})) == "1902"
    assert code_of(await mock.tr("acnt", "kt00001", {"qry_tp": "3"})) == "1999"


async def test_faults_5xx_throttle_and_lost_reply(real: Kiwoom) -> None:
    await real.http.post("/_sandbox/faults", json={"error_5xx": {"count": 1, "status": 503}})
    assert (await real.tr("acnt", "ka00001")).status_code == 503
    await real.http.post("/_sandbox/faults", json={"rate_limit": {"count": 1}})
    assert code_of(await real.tr("acnt", "ka00001")) == "1700"
    await real.http.post("/_sandbox/faults", json={"lost_reply": {"count": 1}})
    try:
        await real.buy("005930", 1)
        raised = False
    except OSError:
        raised = True
    assert raised
    assert [o.qty for o in real.state.orders] == [1]  # booked although the reply was lost
    faults = (await real.http.get("/_sandbox/faults")).json()
    assert faults["injected"]["error_5xx"] == 1
    assert faults["injected"]["lost_reply"] == 1


async def test_expire_tokens_fault(real: Kiwoom) -> None:
    await real.http.post("/_sandbox/faults", json={"expire_tokens": True})
    assert code_of(await real.tr("acnt", "ka00001")) == "8005"
