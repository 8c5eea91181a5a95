"""Tokens, keys and the gateway's header checks (spec §2, §3, §5, §6)."""

from __future__ import annotations

import base64
import json

from tests.sandbox.kis.conftest import AppFactory, connect
from tests.sandbox.kis.helpers import PRICE, TRADING, Kis


async def test_token_reply_carries_spec_fields(real: Kis) -> None:
    """tokenP answers a Bearer JWT, expires_in 86400 and a KST expiry 24 h ahead."""
    real.broker.clock.advance(60)

    response = await real.issue_token()

    body = response.json()
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 86400
    assert body["access_token_token_expired"] == "2026-03-13 10:00:00"
    header = json.loads(base64.urlsafe_b64decode(body["access_token"].split(".")[0] + "=="))
    assert header == {"typ": "JWT", "alg": "HS512"}
    assert len("Bearer " + body["access_token"]) <= 350


async def test_second_issue_within_a_minute_is_403_egw00133(real: Kis) -> None:
    """Asking tokenP twice inside 60 s gets 403 with error_code EGW00133."""
    real.broker.clock.advance(59)

    response = await real.issue_token()

    assert response.status_code == 403
    assert response.json() == {
        "error_code": "EGW00133",
        "error_description": "접근토큰 발급 잠시 후 다시 시도하세요(1분당 1회)",
    }


async def test_reissue_within_six_hours_returns_the_same_token(real: Kis) -> None:
    """Inside the 6-hour window tokenP hands back the token already issued, expiry unchanged."""
    first = real.access_token
    real.broker.clock.advance(5 * 3600)

    body = (await real.issue_token()).json()

    assert body["access_token"] == first
    assert body["access_token_token_expired"] == "2026-03-13 10:00:00"


async def test_reissue_after_six_hours_mints_a_new_token_and_keeps_the_old(real: Kis) -> None:
    """After 6 hours a new token is issued; the old one works until its own expiry."""
    old = real.access_token
    real.broker.clock.advance(6 * 3600 + 1)

    new = (await real.issue_token()).json()["access_token"]
    response = await real.price()

    assert new != old
    assert response.json()["rt_cd"] == "0"


async def test_token_expired_after_24_hours_is_egw00123_http_500(real: Kis) -> None:
    """A token used 24 h after issue is rejected with HTTP 500 EGW00123."""
    real.broker.clock.advance(24 * 3600)

    response = await real.price()

    assert response.status_code == 500
    assert response.json() == {
        "rt_cd": "1",
        "msg_cd": "EGW00123",
        "msg1": "기간이 만료된 token 입니다.",
    }


async def test_unknown_token_is_egw00121_http_500(real: Kis) -> None:
    """A garbled bearer token is rejected with HTTP 500 EGW00121."""
    real.access_token = real.access_token[:-4] + "AAAA"

    response = await real.price()

    assert response.status_code == 500
    assert response.json()["msg_cd"] == "EGW00121"


async def test_missing_authorization_is_egw00121(real: Kis) -> None:
    """A business call without an authorization header is an invalid token."""
    headers = real.headers("FHKST01010100")
    del headers["authorization"]

    response = await real.http.get(PRICE, params={"FID_COND_MRKT_DIV_CODE": "J"}, headers=headers)

    assert (response.status_code, response.json()["msg_cd"]) == (500, "EGW00121")


async def test_revoked_token_is_refused(real: Kis) -> None:
    """revokeP answers code/message, after which the token is EGW00121."""
    revoke = await real.http.post(
        "/oauth2/revokeP",
        json={"appkey": real.appkey, "appsecret": real.appsecret, "token": real.access_token},
    )

    response = await real.price()

    assert revoke.json() == {"code": 200, "message": "접근토큰 폐기에 성공하였습니다"}
    assert response.json()["msg_cd"] == "EGW00121"


async def test_token_endpoint_rejects_bad_key_and_secret_with_403(real: Kis) -> None:
    """tokenP: unknown appkey is 403 EGW00103, wrong secret 403 EGW00105."""
    real.broker.clock.advance(120)
    bad_key = await real.http.post(
        "/oauth2/tokenP",
        json={"grant_type": "client_credentials", "appkey": "X" * 36, "appsecret": "s"},
    )
    bad_secret = await real.http.post(
        "/oauth2/tokenP",
        json={"grant_type": "client_credentials", "appkey": real.appkey, "appsecret": "s" * 180},
    )

    assert (bad_key.status_code, bad_key.json()["error_code"]) == (403, "EGW00103")
    assert (bad_secret.status_code, bad_secret.json()["error_code"]) == (403, "EGW00105")


async def test_wrong_secret_header_on_business_call_is_egw00105(real: Kis) -> None:
    """A business call whose appsecret does not match the appkey is HTTP 500 EGW00105."""
    real.appsecret = "z" * 180

    response = await real.price()

    assert (response.status_code, response.json()["msg_cd"]) == (500, "EGW00105")


async def test_keys_of_the_other_environment_are_refused(make_app: AppFactory) -> None:
    """A paper key on the real host is EGW02004; a real key on the paper host is EGW02007."""
    real_app, paper_app = make_app("real"), make_app("paper")
    async for real in connect(real_app):
        async for paper in connect(paper_app):
            paper.http, real.http = real.http, paper.http  # each client now calls the other host

            on_real = await paper.price()
            on_paper = await real.price()

    assert (on_real.status_code, on_real.json()["msg_cd"]) == (500, "EGW02004")
    assert (on_paper.status_code, on_paper.json()["msg_cd"]) == (500, "EGW02007")


async def test_header_names_are_case_insensitive(real: Kis) -> None:
    """Headers spelled Authorization/AppKey/TR_ID work like their lowercase forms."""
    headers = {
        k.upper() if k != "authorization" else "Authorization": v
        for k, v in real.headers("FHKST01010100").items()
    }

    response = await real.http.get(
        PRICE, params={"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": "005930"}, headers=headers
    )

    assert response.json()["rt_cd"] == "0"


async def test_missing_tr_id_is_opsq9999(real: Kis) -> None:
    """A business call without tr_id is answered OPSQ9999."""
    response = await real.price()
    headers = real.headers("")
    del headers["tr_id"]

    missing = await real.http.get(PRICE, params={"FID_INPUT_ISCD": "005930"}, headers=headers)

    assert response.json()["rt_cd"] == "0"
    assert missing.json()["msg_cd"] == "OPSQ9999"


async def test_real_tr_on_paper_host_is_egw02006(paper: Kis) -> None:
    """Paper refuses real TR ids and real-only APIs with HTTP 500 EGW02006."""
    real_tr = await paper.order(tr_id="TTTC0012U")
    real_only = await paper.get(
        f"{TRADING}/inquire-psbl-rvsecncl", "VTTC0084R", {**paper.account()}
    )

    assert (real_tr.status_code, real_tr.json()["msg_cd"]) == (500, "EGW02006")
    assert real_tr.json()["msg1"] == "모의투자 TR 이 아닙니다."
    assert (real_only.status_code, real_only.json()["msg_cd"]) == (500, "EGW02006")


async def test_paper_tr_on_real_host_is_egw02004(real: Kis) -> None:
    """The real host refuses a paper TR id with EGW02004."""
    response = await real.order(tr_id="VTTC0012U")

    assert (response.status_code, response.json()["msg_cd"]) == (500, "EGW02004")


async def test_custtype_absent_is_tolerated_but_invalid_is_egw00208(real: Kis) -> None:
    """custtype may be omitted (as python-kis does); a value other than P/B is EGW00208."""
    headers = real.headers("FHKST01010100")
    params = {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": "005930"}
    del headers["custtype"]
    absent = await real.http.get(PRICE, params=params, headers=headers)
    real.broker.clock.advance(1)
    invalid = await real.http.get(PRICE, params=params, headers={**headers, "custtype": "X"})

    assert absent.json()["rt_cd"] == "0"
    assert (invalid.status_code, invalid.json()["msg_cd"]) == (500, "EGW00208")


async def test_hashkey_echoes_body_and_is_checked_on_orders(real: Kis) -> None:
    """hashkey returns BODY + a 64-hex HASH; an order with a wrong hashkey is EGW00131."""
    body = {**real.account(), "PDNO": "005930", "ORD_DVSN": "01", "ORD_QTY": "1", "ORD_UNPR": "0"}
    hashed = await real.http.post(
        "/uapi/hashkey", json=body, headers={"appkey": real.appkey, "appsecret": real.appsecret}
    )
    digest = hashed.json()["HASH"]
    path = f"{TRADING}/order-cash"

    good = await real.http.post(path, json=body, headers=real.headers("TTTC0012U", hashkey=digest))
    bad = await real.http.post(path, json=body, headers=real.headers("TTTC0012U", hashkey="0" * 64))

    assert hashed.json()["BODY"] == body
    assert len(digest) == 64
    assert int(digest, 16) >= 0
    assert good.json()["rt_cd"] == "0"
    assert (bad.status_code, bad.json()["msg_cd"]) == (500, "EGW00131")


async def test_approval_key_takes_the_secret_as_secretkey(real: Kis) -> None:
    """Approval issues a 36-char approval_key for appkey + secretkey, and 403 for appsecret."""
    good = await real.http.post(
        "/oauth2/Approval",
        json={
            "grant_type": "client_credentials",
            "appkey": real.appkey,
            "secretkey": real.appsecret,
        },
    )
    wrong_field = await real.http.post(
        "/oauth2/Approval",
        json={
            "grant_type": "client_credentials",
            "appkey": real.appkey,
            "appsecret": real.appsecret,
        },
    )

    assert len(good.json()["approval_key"]) == 36
    assert (wrong_field.status_code, wrong_field.json()["error_code"]) == (403, "EGW00105")


async def test_post_without_json_content_type_is_egw00132(real: Kis) -> None:
    """An order POST whose content-type is not JSON is refused with EGW00132."""
    headers = real.headers("TTTC0012U", **{"content-type": "text/plain"})

    response = await real.http.post(f"{TRADING}/order-cash", content=b"{}", headers=headers)

    assert (response.status_code, response.json()["msg_cd"]) == (500, "EGW00132")
