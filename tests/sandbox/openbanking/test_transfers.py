"""입금이체, 출금이체 and 이체결과조회, including ambiguous A0001/A0007 outcomes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from adapters.fake import FakeClock
from adapters.sandbox.openbanking import Relay
from adapters.sandbox.openbanking.formats import KST

from .conftest import (
    ACCIDENT,
    CMA,
    CMA_BALANCE,
    KIS,
    bearer,
    dtime,
    oob_token,
    user_token,
)

DEPOSIT = "/v2.0/transfer/deposit/fin_num"
WITHDRAW = "/v2.0/transfer/withdraw/fin_num"
RESULT = "/v2.0/transfer/result"


def deposit_body(
    clock: FakeClock, bank_tran_id: str, amount: str = "500000", fintech: str = CMA, **top: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "cntr_account_type": "N",
        "cntr_account_num": "1002990000001",
        "wd_pass_phrase": "NONE",
        "wd_print_content": "환불",
        "name_check_option": "on",
        "tran_dtime": dtime(clock),
        "req_cnt": "1",
        "req_list": [
            {
                "tran_no": "1",
                "bank_tran_id": bank_tran_id,
                "fintech_use_num": fintech,
                "print_content": "오픈뱅킹입금",
                "tran_amt": amount,
                "req_client_name": "김데모",
                "req_client_fintech_use_num": CMA,
                "req_client_num": "DEMO0001",
                "transfer_purpose": "TR",
            }
        ],
    }
    body.update(top)
    return body


def withdraw_body(
    clock: FakeClock, bank_tran_id: str, amount: str = "100000", fintech: str = CMA, **extra: str
) -> dict[str, Any]:
    body = {
        "bank_tran_id": bank_tran_id,
        "cntr_account_type": "N",
        "cntr_account_num": "1002990000002",
        "dps_print_content": "충전",
        "fintech_use_num": fintech,
        "wd_print_content": "데모충전",
        "tran_amt": amount,
        "tran_dtime": dtime(clock),
        "req_client_name": "김데모",
        "req_client_fintech_use_num": fintech,
        "req_client_num": "DEMO0001",
        "transfer_purpose": "TR",
        "recv_client_name": "김데모",
        "recv_client_bank_code": "097",
        "recv_client_account_num": "1002990000002",
    }
    body.update(extra)
    return body


def result_body(
    clock: FakeClock, check_type: str, bank_tran_id: str, amount: str
) -> dict[str, Any]:
    return {
        "check_type": check_type,
        "tran_dtime": dtime(clock),
        "req_cnt": "1",
        "req_list": [
            {
                "tran_no": "1",
                "org_bank_tran_id": bank_tran_id,
                "org_bank_tran_date": clock.now().astimezone(KST).strftime("%Y%m%d"),
                "org_tran_amt": amount,
            }
        ],
    }


async def fault(client: httpx.AsyncClient, **spec: Any) -> None:
    response = await client.post("/_sandbox/faults", json=spec)
    assert response.status_code == 200, response.text


async def test_deposit_credits_balance_and_history(
    client: httpx.AsyncClient, clock: FakeClock, ids: Iterator[str], relay: Relay
) -> None:
    """A successful deposit answers per item, raises the balance and adds a 입금 row."""
    token = await oob_token(client)
    bank_tran_id = next(ids)
    body = (
        await client.post(DEPOSIT, headers=bearer(token), json=deposit_body(clock, bank_tran_id))
    ).json()
    assert body["rsp_code"] == "A0000"
    assert "bank_rsp_code" not in body
    assert body["wd_bank_code_std"] == "097"
    assert body["wd_account_holder_name"] == "테스트기관"
    assert body["res_cnt"] == "1"
    item = body["res_list"][0]
    assert item["bank_tran_id"] == bank_tran_id
    assert item["bank_rsp_code"] == "000"
    assert item["bank_code_tran"] == "240"
    assert item["tran_amt"] == "500000"
    account = relay.accounts[CMA]
    assert account.balance == CMA_BALANCE + 500_000
    assert account.history[-1].inout_type == "입금"
    assert account.history[-1].amount == 500_000
    assert account.history[-1].after_balance == CMA_BALANCE + 500_000
    user = await user_token(client)
    balance = (
        await client.get(
            "/v2.0/account/balance/fin_num",
            headers=bearer(user),
            params={"bank_tran_id": next(ids), "fintech_use_num": CMA, "tran_dtime": dtime(clock)},
        )
    ).json()
    assert balance["balance_amt"] == str(CMA_BALANCE + 500_000)
    assert balance["last_tran_date"] == "20260310"


async def test_deposit_request_rules(
    client: httpx.AsyncClient, clock: FakeClock, ids: Iterator[str], relay: Relay
) -> None:
    """Contract account, pass phrase, string req_cnt and requester either/or are enforced."""
    token = await oob_token(client)
    cases = [
        ("A0322", deposit_body(clock, next(ids), cntr_account_num="999")),
        ("A0307", deposit_body(clock, next(ids), wd_pass_phrase="WRONG")),
        ("A0004", deposit_body(clock, next(ids), req_cnt=1)),
        ("A0004", deposit_body(clock, next(ids), name_check_option="maybe")),
    ]
    both = deposit_body(clock, next(ids))
    both["req_list"][0].update(req_client_bank_code="240", req_client_account_num="7100")
    cases.append(("A0004", both))
    numeric_amount = deposit_body(clock, next(ids))
    numeric_amount["req_list"][0]["tran_amt"] = 500000
    cases.append(("A0004", numeric_amount))
    for expected, body in cases:
        answer = (await client.post(DEPOSIT, headers=bearer(token), json=body)).json()
        assert answer["rsp_code"] == expected, (expected, answer["rsp_message"])
    assert relay.accounts[CMA].balance == CMA_BALANCE


async def test_deposit_limits(
    client: httpx.AsyncClient, clock: FakeClock, ids: Iterator[str]
) -> None:
    """Per-transaction (A0106) and daily (A0101) deposit limits of the 이용기관 apply."""
    token = await oob_token(client)
    over = (
        await client.post(
            DEPOSIT, headers=bearer(token), json=deposit_body(clock, next(ids), "5000001")
        )
    ).json()
    assert over["rsp_code"] == "A0106"
    ok = (
        await client.post(
            DEPOSIT, headers=bearer(token), json=deposit_body(clock, next(ids), "5000000")
        )
    ).json()
    assert ok["rsp_code"] == "A0000"
    daily = (
        await client.post(
            DEPOSIT, headers=bearer(token), json=deposit_body(clock, next(ids), "3000001")
        )
    ).json()
    assert daily["rsp_code"] == "A0101"


async def test_duplicate_deposit_bank_tran_id_is_a0326_and_moves_no_money(
    client: httpx.AsyncClient, clock: FakeClock, ids: Iterator[str], relay: Relay
) -> None:
    """Re-sending a deposit with the same bank_tran_id the same day is refused with A0326."""
    token = await oob_token(client)
    bank_tran_id = next(ids)
    await client.post(DEPOSIT, headers=bearer(token), json=deposit_body(clock, bank_tran_id))
    again = (
        await client.post(DEPOSIT, headers=bearer(token), json=deposit_body(clock, bank_tran_id))
    ).json()
    assert again["rsp_code"] == "A0326"
    assert relay.accounts[CMA].balance == CMA_BALANCE + 500_000


async def test_deposit_to_failing_participant_is_a0009_with_item_code(
    client: httpx.AsyncClient, clock: FakeClock, ids: Iterator[str], relay: Relay
) -> None:
    """A per-item participant failure makes the top level A0009; result reports the 419."""
    token = await oob_token(client)
    bank_tran_id = next(ids)
    body = (
        await client.post(
            DEPOSIT, headers=bearer(token), json=deposit_body(clock, bank_tran_id, fintech=ACCIDENT)
        )
    ).json()
    assert body["rsp_code"] == "A0009"
    assert body["res_list"][0]["bank_rsp_code"] == "419"
    assert relay.accounts[ACCIDENT].balance == 1_000_000
    looked_up = (
        await client.post(
            RESULT, headers=bearer(token), json=result_body(clock, "2", bank_tran_id, "500000")
        )
    ).json()
    assert looked_up["res_list"][0]["bank_rsp_code"] == "419"


async def test_a0001_executed_transfer_is_confirmed_by_result(
    client: httpx.AsyncClient, clock: FakeClock, ids: Iterator[str], relay: Relay
) -> None:
    """A0001 with executed=true: money moved, transfer/result answers bank_rsp_code 000."""
    await fault(client, kind="transfer_outcome", rsp_code="A0001", executed=True, count=1)
    token = await oob_token(client)
    bank_tran_id = next(ids)
    body = (
        await client.post(DEPOSIT, headers=bearer(token), json=deposit_body(clock, bank_tran_id))
    ).json()
    assert body["rsp_code"] == "A0001"
    assert "res_list" not in body
    assert relay.accounts[CMA].balance == CMA_BALANCE + 500_000
    looked_up = (
        await client.post(
            RESULT, headers=bearer(token), json=result_body(clock, "2", bank_tran_id, "500000")
        )
    ).json()
    assert looked_up["rsp_code"] == "A0000"
    item = looked_up["res_list"][0]
    assert item["bank_tran_id"] == bank_tran_id
    assert item["bank_rsp_code"] == "000"
    assert item["dps_bank_code_std"] == "240"
    assert item["wd_bank_code_std"] == "097"
    assert item["tran_amt"] == "500000"


async def test_a0007_not_executed_transfer_has_no_record(
    client: httpx.AsyncClient, clock: FakeClock, ids: Iterator[str], relay: Relay
) -> None:
    """A0007 with executed=false: no money moved, transfer/result answers A0310."""
    await fault(client, kind="transfer_outcome", rsp_code="A0007", executed=False, count=1)
    token = await oob_token(client)
    bank_tran_id = next(ids)
    body = (
        await client.post(DEPOSIT, headers=bearer(token), json=deposit_body(clock, bank_tran_id))
    ).json()
    assert body["rsp_code"] == "A0007"
    assert relay.accounts[CMA].balance == CMA_BALANCE
    looked_up = (
        await client.post(
            RESULT, headers=bearer(token), json=result_body(clock, "2", bank_tran_id, "500000")
        )
    ).json()
    assert looked_up["rsp_code"] == "A0310"


async def test_result_checks_amount_and_type(
    client: httpx.AsyncClient, clock: FakeClock, ids: Iterator[str]
) -> None:
    """A wrong org_tran_amt is a format error; asking check_type 1 for a deposit finds nothing."""
    token = await oob_token(client)
    bank_tran_id = next(ids)
    await client.post(DEPOSIT, headers=bearer(token), json=deposit_body(clock, bank_tran_id))
    wrong_amount = (
        await client.post(
            RESULT, headers=bearer(token), json=result_body(clock, "2", bank_tran_id, "1")
        )
    ).json()
    assert wrong_amount["rsp_code"] == "A0004"
    wrong_type = (
        await client.post(
            RESULT, headers=bearer(token), json=result_body(clock, "1", bank_tran_id, "500000")
        )
    ).json()
    assert wrong_type["rsp_code"] == "A0310"


async def test_withdraw_debits_and_reports_remaining_limit(
    client: httpx.AsyncClient, clock: FakeClock, ids: Iterator[str], relay: Relay
) -> None:
    """출금이체 debits the user's account, answers the full envelope and wd_limit_remain_amt."""
    token = await user_token(client)
    bank_tran_id = next(ids)
    body = (
        await client.post(WITHDRAW, headers=bearer(token), json=withdraw_body(clock, bank_tran_id))
    ).json()
    assert body["rsp_code"] == "A0000"
    assert body["bank_rsp_code"] == "000"
    assert body["bank_tran_id"] == bank_tran_id
    assert body["bank_code_tran"] == "240"
    assert body["dps_bank_code_std"] == "097"
    assert body["tran_amt"] == "100000"
    assert body["wd_limit_remain_amt"] == "2900000"
    assert relay.accounts[CMA].balance == CMA_BALANCE - 100_000
    assert relay.accounts[CMA].history[-1].inout_type == "출금"
    oob = await oob_token(client)
    looked_up = (
        await client.post(
            RESULT, headers=bearer(oob), json=result_body(clock, "1", bank_tran_id, "100000")
        )
    ).json()
    assert looked_up["res_list"][0]["bank_rsp_code"] == "000"


async def test_withdraw_rules(
    client: httpx.AsyncClient, clock: FakeClock, ids: Iterator[str], relay: Relay
) -> None:
    """Consent A0306, missing beneficiary A0004, limits A0111/A0112, insufficient funds A0002."""
    token = await user_token(client)

    async def send(body: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = (
            await client.post(WITHDRAW, headers=bearer(token), json=body)
        ).json()
        return answer

    assert (await send(withdraw_body(clock, next(ids), fintech=KIS)))["rsp_code"] == "A0306"
    no_recipient = withdraw_body(clock, next(ids))
    del no_recipient["recv_client_name"]
    answer = await send(no_recipient)
    assert answer["rsp_code"] == "A0004"
    assert "최종수취고객정보" in answer["rsp_message"]
    assert (await send(withdraw_body(clock, next(ids), "2000001")))["rsp_code"] == "A0111"
    assert (await send(withdraw_body(clock, next(ids), "2000000")))["rsp_code"] == "A0000"
    assert (await send(withdraw_body(clock, next(ids), "1000001")))["rsp_code"] == "A0112"
    relay.accounts[CMA].balance = 50_000
    poor = await send(withdraw_body(clock, next(ids), "60000"))
    assert poor["rsp_code"] == "A0002"
    assert poor["bank_rsp_code"] == "499"
    assert relay.accounts[CMA].balance == 50_000


@pytest.mark.parametrize(
    ("rsp_code", "executed", "balance", "answer"),
    [
        ("A0001", False, CMA_BALANCE, "A0310"),
        ("A0007", True, CMA_BALANCE - 100_000, "A0000"),
    ],
    ids=["A0001-not-executed", "A0007-executed"],
)
async def test_withdraw_ambiguous_outcome_is_resolved_by_result(
    client: httpx.AsyncClient,
    clock: FakeClock,
    ids: Iterator[str],
    relay: Relay,
    rsp_code: str,
    executed: bool,
    balance: int,
    answer: str,
) -> None:
    """An ambiguous withdrawal moved money only if executed; transfer/result tells which."""
    await fault(
        client, kind="transfer_outcome", rsp_code=rsp_code, executed=executed, path=WITHDRAW
    )
    token = await user_token(client)
    bank_tran_id = next(ids)
    body = (
        await client.post(WITHDRAW, headers=bearer(token), json=withdraw_body(clock, bank_tran_id))
    ).json()
    assert body["rsp_code"] == rsp_code
    assert body["bank_tran_id"] == bank_tran_id
    assert relay.accounts[CMA].balance == balance
    oob = await oob_token(client)
    looked_up = (
        await client.post(
            RESULT, headers=bearer(oob), json=result_body(clock, "1", bank_tran_id, "100000")
        )
    ).json()
    assert looked_up["rsp_code"] == answer
