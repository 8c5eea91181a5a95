"""Relay-wide rules: HTTP 200 errors, wrong method, bearer header, bank_tran_id, tran_dtime."""

from __future__ import annotations

from collections.abc import Iterator

import httpx

from adapters.fake import FakeClock

from .conftest import (
    CMA,
    OTHER_USE_CODE,
    USE_CODE,
    bearer,
    dtime,
    oob_token,
    user_token,
)

BALANCE = "/v2.0/account/balance/fin_num"


async def test_wrong_method_is_o0010_with_http_200(client: httpx.AsyncClient) -> None:
    """POST to a GET inquiry and GET to a POST transfer both answer O0010 (never a 405)."""
    token = await user_token(client)
    for method, path in [
        ("POST", BALANCE),
        ("GET", "/v2.0/transfer/deposit/fin_num"),
        ("GET", "/oauth/2.0/token"),
        ("DELETE", "/v2.0/account/list"),
    ]:
        response = await client.request(method, path, headers=bearer(token))
        assert response.status_code == 200, path
        assert response.json()["rsp_code"] == "O0010", path
        assert response.json()["rsp_message"] == "허용되지 않은 http method"


async def test_unknown_relay_path_answers_o0005(client: httpx.AsyncClient) -> None:
    """A path that is not part of the API answers O0005 with HTTP 200."""
    response = await client.get("/v2.0/account/balance/acnt_number")
    assert response.status_code == 200
    assert response.json()["rsp_code"] == "O0005"


async def test_missing_or_malformed_bearer_is_o0001_992(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    """No Authorization header, or "Bearer" glued to the token, answers O0001 [992]."""
    token = await user_token(client)
    params = {
        "bank_tran_id": f"{USE_CODE}U000000001",
        "fintech_use_num": CMA,
        "tran_dtime": dtime(clock),
    }
    for headers in ({}, {"Authorization": "Bearer" + token["access_token"]}):
        body = (await client.get(BALANCE, params=params, headers=headers)).json()
        assert body["rsp_code"] == "O0001"
        assert "[992]" in body["rsp_message"]
    garbage = await client.get(BALANCE, params=params, headers={"Authorization": "Bearer abc.d.e"})
    assert garbage.json()["rsp_code"] == "O0002"


async def test_bank_tran_id_format_and_prefix_are_a0004(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    """19/21 chars, lowercase, missing U, or another institution's prefix → A0004 [bank_tran_id]."""
    token = await user_token(client)
    bad_ids = [
        f"{USE_CODE}U12345678",  # 19 chars: the unpadded-random tutorial bug
        f"{USE_CODE}U1234567890",
        f"{USE_CODE}U12345678a",
        f"{USE_CODE}X123456789",
        f"{OTHER_USE_CODE}U123456789",
    ]
    for bank_tran_id in bad_ids:
        body = (
            await client.get(
                BALANCE,
                headers=bearer(token),
                params={
                    "bank_tran_id": bank_tran_id,
                    "fintech_use_num": CMA,
                    "tran_dtime": dtime(clock),
                },
            )
        ).json()
        assert body["rsp_code"] == "A0004", bank_tran_id
        assert "[bank_tran_id]" in body["rsp_message"]
        assert body["bank_tran_id"] == bank_tran_id  # echoed as in the spec's error example


async def test_same_bank_tran_id_twice_a_day_is_a0326_but_ok_next_day(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Reusing a bank_tran_id on the same KST day → A0326; the next day it is fresh again."""
    token = await user_token(client)
    params = {"bank_tran_id": f"{USE_CODE}U00000A7K2", "fintech_use_num": CMA}
    first = await client.get(
        BALANCE, headers=bearer(token), params={**params, "tran_dtime": dtime(clock)}
    )
    assert first.json()["rsp_code"] == "A0000"
    again = await client.get(
        BALANCE, headers=bearer(token), params={**params, "tran_dtime": dtime(clock)}
    )
    assert again.json()["rsp_code"] == "A0326"
    clock.advance(14 * 3600)  # 00:00 KST the next day
    next_day = await client.get(
        BALANCE, headers=bearer(token), params={**params, "tran_dtime": dtime(clock)}
    )
    assert next_day.json()["rsp_code"] == "A0000"


async def test_tran_dtime_must_be_a_real_kst_instant_near_now(
    client: httpx.AsyncClient, clock: FakeClock, ids: Iterator[str]
) -> None:
    """tran_dtime: 14 digits, a real time, and KST (a UTC stamp is 9 hours off) → else A0004."""
    token = await user_token(client)
    utc_stamp = clock.now().strftime("%Y%m%d%H%M%S")
    stamps = ["2026031010000", "20260310250000", "20260231100000", utc_stamp]
    for stamp in stamps:
        body = (
            await client.get(
                BALANCE,
                headers=bearer(token),
                params={"bank_tran_id": next(ids), "fintech_use_num": CMA, "tran_dtime": stamp},
            )
        ).json()
        assert body["rsp_code"] == "A0004", stamp
        assert "[tran_dtime]" in body["rsp_message"]


async def test_json_numbers_and_form_bodies_are_format_errors(
    client: httpx.AsyncClient, clock: FakeClock, ids: Iterator[str]
) -> None:
    """Transfer bodies must be JSON with string values: form bodies and numbers → A0004."""
    token = await oob_token(client)
    form = await client.post(
        "/v2.0/transfer/result", headers=bearer(token), data={"check_type": "2"}
    )
    assert form.json()["rsp_code"] == "A0004"
    numeric = await client.post(
        "/v2.0/transfer/result",
        headers=bearer(token),
        json={"check_type": 2, "tran_dtime": dtime(clock), "req_cnt": "1", "req_list": []},
    )
    assert numeric.json()["rsp_code"] == "A0004"
    assert "[check_type]" in numeric.json()["rsp_message"]
