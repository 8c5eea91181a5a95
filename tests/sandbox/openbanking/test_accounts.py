"""user/me, account/list, balance/fin_num, inquiry/real_name and accountinfo/list."""

from __future__ import annotations

from collections.abc import Iterator

import httpx

from adapters.fake import FakeClock
from adapters.sandbox.openbanking import Relay

from .conftest import (
    ACCIDENT,
    CANCELLED,
    CMA,
    CMA_BALANCE,
    DEMO_CI,
    DEMO_SEQ,
    KIS,
    OTHER_CMA,
    OTHER_SEQ,
    bearer,
    dtime,
    oob_token,
    user_token,
)

BALANCE_FIELDS = {"balance_amt", "available_amt"}


async def test_user_me_lists_registered_accounts_without_balances(
    client: httpx.AsyncClient,
) -> None:
    """user/me carries the API half of the envelope, user fields and accounts, no balances."""
    token = await user_token(client, scope="login")
    body = (
        await client.get("/v2.0/user/me", params={"user_seq_no": DEMO_SEQ}, headers=bearer(token))
    ).json()
    assert body["rsp_code"] == "A0000"
    assert body["rsp_message"] == ""
    assert len(body["api_tran_dtm"]) == 17
    assert body["api_tran_id"]
    assert "bank_rsp_code" not in body
    assert body["user_name"] == "김데모"
    assert body["user_ci"] == DEMO_CI
    assert body["res_cnt"] == "4"
    assert CANCELLED not in {item["fintech_use_num"] for item in body["res_list"]}
    for item in body["res_list"]:
        assert not BALANCE_FIELDS & set(item)


async def test_account_list_has_no_balances_and_filters_cancelled(
    client: httpx.AsyncClient,
) -> None:
    """account/list: strings only, no balance fields, cancelled accounts only when asked."""
    token = await user_token(client, scope="login")
    params = {"user_seq_no": DEMO_SEQ, "include_cancel_yn": "N", "sort_order": "D"}
    body = (await client.get("/v2.0/account/list", params=params, headers=bearer(token))).json()
    assert body["rsp_code"] == "A0000"
    assert body["res_cnt"] == "4"
    first = body["res_list"][0]
    assert first["fintech_use_num"] == KIS  # latest consent timestamp first
    cma = next(i for i in body["res_list"] if i["fintech_use_num"] == CMA)
    assert cma["bank_code_std"] == "240"
    assert cma["bank_name"] == "삼성증권"
    assert cma["account_num_masked"] == "71001234567***"
    assert cma["account_type"] == "T"
    assert cma["account_state"] == "01"
    assert cma["transfer_agree_yn"] == "Y"
    for item in body["res_list"]:
        assert not BALANCE_FIELDS & set(item)
        assert all(isinstance(v, str) for v in item.values())
    with_cancelled = (
        await client.get(
            "/v2.0/account/list",
            headers=bearer(token),
            params={**params, "include_cancel_yn": "Y", "sort_order": "A"},
        )
    ).json()
    assert with_cancelled["res_cnt"] == "5"
    assert with_cancelled["res_list"][-1]["fintech_use_num"] == KIS


async def test_account_list_requires_its_own_user_and_parameters(
    client: httpx.AsyncClient,
) -> None:
    """Another user's user_seq_no → A0313; missing sort_order → A0004 [sort_order]."""
    token = await user_token(client, scope="login")
    foreign = await client.get(
        "/v2.0/account/list",
        headers=bearer(token),
        params={"user_seq_no": OTHER_SEQ, "include_cancel_yn": "N", "sort_order": "D"},
    )
    assert foreign.json()["rsp_code"] == "A0313"
    missing = await client.get(
        "/v2.0/account/list",
        headers=bearer(token),
        params={"user_seq_no": DEMO_SEQ, "include_cancel_yn": "N"},
    )
    assert missing.json()["rsp_code"] == "A0004"
    assert "[sort_order]" in missing.json()["rsp_message"]


async def test_balance_returns_full_envelope_and_string_amounts(
    client: httpx.AsyncClient, clock: FakeClock, ids: Iterator[str]
) -> None:
    """balance/fin_num carries both envelope halves and the seeded balance as a string."""
    token = await user_token(client)
    bank_tran_id = next(ids)
    body = (
        await client.get(
            "/v2.0/account/balance/fin_num",
            headers=bearer(token),
            params={
                "bank_tran_id": bank_tran_id,
                "fintech_use_num": CMA,
                "tran_dtime": dtime(clock),
            },
        )
    ).json()
    assert body["rsp_code"] == "A0000"
    assert body["bank_tran_id"] == bank_tran_id
    assert body["bank_tran_date"] == "20260310"
    assert body["bank_code_tran"] == "240"
    assert body["bank_rsp_code"] == "000"
    assert body["balance_amt"] == str(CMA_BALANCE)
    assert body["available_amt"] == str(CMA_BALANCE)
    assert body["bank_name"] == "삼성증권"
    assert body["product_name"] == "CMA(RP형)"
    assert body["account_type"] == "T"
    assert body["last_tran_date"] == "20260309"


async def test_scope_enforcement(
    client: httpx.AsyncClient, clock: FakeClock, ids: Iterator[str]
) -> None:
    """A login-only token cannot read balances, an oob token cannot list accounts (O0011)."""
    login_only = await user_token(client, scope="login")
    balance = await client.get(
        "/v2.0/account/balance/fin_num",
        headers=bearer(login_only),
        params={"bank_tran_id": next(ids), "fintech_use_num": CMA, "tran_dtime": dtime(clock)},
    )
    assert balance.status_code == 200
    assert balance.json()["rsp_code"] == "O0011"
    oob = await oob_token(client)
    listing = await client.get(
        "/v2.0/account/list",
        headers=bearer(oob),
        params={"user_seq_no": DEMO_SEQ, "include_cancel_yn": "N", "sort_order": "D"},
    )
    assert listing.json()["rsp_code"] == "O0011"
    inquiry_only = await user_token(client, scope="login inquiry")
    withdraw = await client.post(
        "/v2.0/transfer/withdraw/fin_num", headers=bearer(inquiry_only), json={}
    )
    assert withdraw.json()["rsp_code"] == "O0011"
    deposit = await client.post(
        "/v2.0/transfer/deposit/fin_num", headers=bearer(inquiry_only), json={}
    )
    assert deposit.json()["rsp_code"] == "O0011"


async def test_balance_of_foreign_account_is_a_fintech_mismatch(
    client: httpx.AsyncClient, clock: FakeClock, ids: Iterator[str]
) -> None:
    """Another user's fintech_use_num answers A0304; a cancelled one answers A0323."""
    token = await user_token(client)
    foreign = await client.get(
        "/v2.0/account/balance/fin_num",
        headers=bearer(token),
        params={
            "bank_tran_id": next(ids),
            "fintech_use_num": OTHER_CMA,
            "tran_dtime": dtime(clock),
        },
    )
    assert foreign.json()["rsp_code"] == "A0304"
    cancelled = await client.get(
        "/v2.0/account/balance/fin_num",
        headers=bearer(token),
        params={
            "bank_tran_id": next(ids),
            "fintech_use_num": CANCELLED,
            "tran_dtime": dtime(clock),
        },
    )
    assert cancelled.json()["rsp_code"] == "A0323"


async def test_participant_failure_is_a0002_with_bank_code(
    client: httpx.AsyncClient, clock: FakeClock, ids: Iterator[str]
) -> None:
    """An account whose participant answers 419 gives A0002 with bank_rsp_code 419."""
    token = await user_token(client, user="other")
    body = (
        await client.get(
            "/v2.0/account/balance/fin_num",
            headers=bearer(token),
            params={
                "bank_tran_id": next(ids),
                "fintech_use_num": ACCIDENT,
                "tran_dtime": dtime(clock),
            },
        )
    ).json()
    assert body["rsp_code"] == "A0002"
    assert body["bank_rsp_code"] == "419"
    assert body["bank_code_tran"] == "081"
    assert "balance_amt" not in body


async def test_real_name_finds_seeded_account_and_misses_with_412(
    client: httpx.AsyncClient, clock: FakeClock, ids: Iterator[str]
) -> None:
    """inquiry/real_name returns the holder; an unknown account is A0002 + bank 412."""
    token = await oob_token(client)
    request = {
        "bank_tran_id": next(ids),
        "bank_code_std": "240",
        "account_num": "71001234567801",
        "account_holder_info_type": " ",
        "account_holder_info": "900101",
        "tran_dtime": dtime(clock),
    }
    body = (
        await client.post("/v2.0/inquiry/real_name", headers=bearer(token), json=request)
    ).json()
    assert body["rsp_code"] == "A0000"
    assert body["bank_rsp_code"] == "000"
    assert body["account_holder_name"] == "김데모"
    assert body["bank_code_tran"] == "240"
    missing = (
        await client.post(
            "/v2.0/inquiry/real_name",
            headers=bearer(token),
            json={**request, "bank_tran_id": next(ids), "account_num": "1"},
        )
    ).json()
    assert missing["rsp_code"] == "A0002"
    assert missing["bank_rsp_code"] == "412"


async def test_accountinfo_list_needs_sa_and_returns_balances(
    client: httpx.AsyncClient, relay: Relay
) -> None:
    """accountinfo/list (sa) lists securities accounts with balances; an oob token gets O0011."""
    request = {
        "user_name": "김데모",
        "user_ci": DEMO_CI,
        "ainfo_agree_yn": "Y",
        "inquiry_bank_type": "4",
        "trace_no": "1",
        "inquiry_record_cnt": "30",
    }
    oob = await oob_token(client)
    refused = await client.post("/v2.0/accountinfo/list", headers=bearer(oob), json=request)
    assert refused.json()["rsp_code"] == "O0011"
    sa = await oob_token(client, scope="sa")
    body = (await client.post("/v2.0/accountinfo/list", headers=bearer(sa), json=request)).json()
    assert body["rsp_code"] == "A0000"
    assert body["ainfo_rsp_code"] == "0000"
    assert body["total_record_cnt"] == "2"
    assert len(body["ainfo_tran_id"]) == 12
    cma = next(i for i in body["res_list"] if i["bank_code_std"] == "240")
    assert cma["balance_amt"] == str(CMA_BALANCE)
    assert cma["deposit_amt"] == str(CMA_BALANCE)
    assert cma["account_num"] == "71001234567801"
    by_code = (
        await client.post(
            "/v2.0/accountinfo/list",
            headers=bearer(sa),
            json={
                "auth_code": "AINFO-DEMO",
                "inquiry_bank_type": "1",
                "trace_no": "2",
                "inquiry_record_cnt": "1",
            },
        )
    ).json()
    assert by_code["total_record_cnt"] == "3"
    assert by_code["page_record_cnt"] == "1"
    assert by_code["res_list"][0]["list_num"] == "002"
