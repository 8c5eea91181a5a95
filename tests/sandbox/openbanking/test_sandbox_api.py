"""The sandbox-only control surface: demo users, behind-the-back changes, reset."""

from __future__ import annotations

from collections.abc import Iterator

import httpx

from adapters.fake import FakeClock
from adapters.sandbox.openbanking import Relay

from .conftest import CLIENT_ID, CLIENT_SECRET, CMA, CMA_BALANCE, bearer, user_token
from .test_transactions import PATH, query


async def test_users_lists_demo_users_and_fake_credentials(client: httpx.AsyncClient) -> None:
    """GET /_sandbox/users shows users with accounts and the clients' credentials."""
    body = (await client.get("/_sandbox/users")).json()
    demo = next(u for u in body["users"] if u["id"] == "demo")
    cma = next(a for a in demo["accounts"] if a["fintech_use_num"] == CMA)
    assert cma["balance_amt"] == str(CMA_BALANCE)
    assert cma["transactions"] == 60
    creds = next(c for c in body["clients"] if c["client_id"] == CLIENT_ID)
    assert creds["client_secret"] == CLIENT_SECRET
    assert creds["client_use_code"] == "T990000001"


async def test_added_transaction_shows_in_balance_and_history(
    client: httpx.AsyncClient, clock: FakeClock, ids: Iterator[str], relay: Relay
) -> None:
    """POST /_sandbox/transactions books a row the client then sees on page 1."""
    response = await client.post(
        "/_sandbox/transactions",
        json={
            "fintech_use_num": CMA,
            "inout_type": "출금",
            "tran_amt": 70000,
            "print_content": "몰래출금",
        },
    )
    assert response.status_code == 201
    assert response.json()["balance_amt"] == str(CMA_BALANCE - 70_000)
    token = await user_token(client)
    page = (await client.get(PATH, headers=bearer(token), params=query(clock, ids, CMA))).json()
    assert page["res_list"][0]["print_content"] == "몰래출금"
    assert page["balance_amt"] == str(CMA_BALANCE - 70_000)


async def test_silent_balance_change_breaks_the_chain(
    client: httpx.AsyncClient, clock: FakeClock, ids: Iterator[str]
) -> None:
    """POST /_sandbox/balances changes the balance without a row (a reconciliation break)."""
    await client.post("/_sandbox/balances", json={"fintech_use_num": CMA, "balance_amt": 1})
    token = await user_token(client)
    page = (await client.get(PATH, headers=bearer(token), params=query(clock, ids, CMA))).json()
    assert page["balance_amt"] == "1"
    assert page["res_list"][0]["after_balance_amt"] == str(CMA_BALANCE)


async def test_bad_sandbox_input_is_rejected(client: httpx.AsyncClient) -> None:
    """Unknown accounts are 404 and malformed bodies 400 on the control API."""
    missing = await client.post(
        "/_sandbox/transactions",
        json={"fintech_use_num": "0" * 24, "inout_type": "입금", "tran_amt": 1},
    )
    assert missing.status_code == 404
    malformed = await client.post("/_sandbox/transactions", json={"fintech_use_num": CMA})
    assert malformed.status_code == 400


async def test_reset_restores_the_seeded_world(client: httpx.AsyncClient) -> None:
    """POST /_sandbox/reset restores balances and forgets tokens and transfers."""
    token = await user_token(client)
    await client.post("/_sandbox/balances", json={"fintech_use_num": CMA, "balance_amt": 5})
    assert (await client.post("/_sandbox/reset")).status_code == 200
    users = (await client.get("/_sandbox/users")).json()
    demo = next(u for u in users["users"] if u["id"] == "demo")
    assert next(a for a in demo["accounts"] if a["fintech_use_num"] == CMA)["balance_amt"] == str(
        CMA_BALANCE
    )
    me = await client.get(
        "/v2.0/user/me", params={"user_seq_no": "1100000001"}, headers=bearer(token)
    )
    assert me.json()["rsp_code"] == "O0002"
    assert (await client.get("/_sandbox/transfers")).json() == {"transfers": []}
