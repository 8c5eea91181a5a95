"""Fault injection through POST /_sandbox/faults and through the seed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from adapters.fake import FakeClock
from adapters.sandbox.openbanking import Relay, create_app

from .conftest import (
    BASE_URL,
    CMA,
    CMA_BALANCE,
    DEMO_SEQ,
    SleepRecorder,
    bearer,
    make_seed,
    oob_token,
    user_token,
)
from .test_transfers import DEPOSIT, RESULT, deposit_body, result_body

ME = "/v2.0/user/me"


async def add_fault(client: httpx.AsyncClient, **spec: Any) -> dict[str, Any]:
    response = await client.post("/_sandbox/faults", json=spec)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def me(client: httpx.AsyncClient, token: dict[str, Any]) -> httpx.Response:
    return await client.get(ME, params={"user_seq_no": DEMO_SEQ}, headers=bearer(token))


async def test_latency_goes_through_the_injected_sleep(
    client: httpx.AsyncClient, sleeper: SleepRecorder
) -> None:
    """A latency fault awaits the injected sleep for its seconds, only on matching paths."""
    token = await user_token(client)
    await add_fault(client, kind="latency", seconds=2.5, path="/v2.0/user/*")
    assert (await me(client, token)).json()["rsp_code"] == "A0000"
    assert sleeper.calls == [2.5]
    await client.get("/v2.0/account/list", headers=bearer(token))
    assert sleeper.calls == [2.5]


async def test_5xx_burst_then_recovery(client: httpx.AsyncClient) -> None:
    """An http_error fault with count 2 fails exactly two calls with 503, then the relay answers."""
    token = await user_token(client)
    await add_fault(client, kind="http_error", status=503, count=2)
    statuses = [(await me(client, token)).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    listed = (await client.get("/_sandbox/faults")).json()
    assert listed["active"] == []


async def test_timeout_hangs_then_drops(client: httpx.AsyncClient, sleeper: SleepRecorder) -> None:
    """A timeout fault sleeps its seconds (injected) and then drops the connection."""
    token = await user_token(client)
    await add_fault(client, kind="timeout", seconds=30, count=1)
    with pytest.raises(ConnectionResetError, match="sandbox: connection dropped"):
        await me(client, token)
    assert sleeper.calls == [30]
    assert (await me(client, token)).status_code == 200


async def test_drop_before_processing_moves_no_money(
    client: httpx.AsyncClient, clock: FakeClock, ids: Iterator[str], relay: Relay
) -> None:
    """A drop in phase 'before' loses the request: no transfer, result says A0310."""
    token = await oob_token(client)
    await add_fault(client, kind="drop", path=DEPOSIT, count=1)
    bank_tran_id = next(ids)
    with pytest.raises(ConnectionResetError):
        await client.post(DEPOSIT, headers=bearer(token), json=deposit_body(clock, bank_tran_id))
    assert relay.accounts[CMA].balance == CMA_BALANCE
    looked_up = (
        await client.post(
            RESULT, headers=bearer(token), json=result_body(clock, "2", bank_tran_id, "500000")
        )
    ).json()
    assert looked_up["rsp_code"] == "A0310"


async def test_drop_after_processing_loses_only_the_answer(
    client: httpx.AsyncClient, clock: FakeClock, ids: Iterator[str], relay: Relay
) -> None:
    """A drop in phase 'after' executes the deposit and loses the response; result shows 000."""
    token = await oob_token(client)
    await add_fault(client, kind="drop", path=DEPOSIT, phase="after", count=1)
    bank_tran_id = next(ids)
    with pytest.raises(ConnectionResetError):
        await client.post(DEPOSIT, headers=bearer(token), json=deposit_body(clock, bank_tran_id))
    assert relay.accounts[CMA].balance == CMA_BALANCE + 500_000
    looked_up = (
        await client.post(
            RESULT, headers=bearer(token), json=result_body(clock, "2", bank_tran_id, "500000")
        )
    ).json()
    assert looked_up["res_list"][0]["bank_rsp_code"] == "000"


async def test_forced_rsp_code_fault(client: httpx.AsyncClient) -> None:
    """An rsp_code fault answers HTTP 200 with the forced code, e.g. an O0008 quota error."""
    token = await user_token(client)
    await add_fault(client, kind="rsp_code", rsp_code="O0008", count=1)
    response = await me(client, token)
    assert response.status_code == 200
    assert response.json()["rsp_code"] == "O0008"
    assert response.json()["rsp_message"] == "Object 플랜 사용량 초과"


async def test_expire_tokens_now(client: httpx.AsyncClient) -> None:
    """expire_tokens makes live access tokens answer O0003; a filter spares other clients."""
    user = await user_token(client)
    oob = await oob_token(client)
    answer = await add_fault(client, kind="expire_tokens", user_seq_no=DEMO_SEQ)
    assert answer["expired_tokens"] == 1
    assert (await me(client, user)).json()["rsp_code"] == "O0003"
    assert answer["active"] == []
    await add_fault(client, kind="expire_tokens")
    result = await client.post(RESULT, headers=bearer(oob), json={})
    assert result.json()["rsp_code"] == "O0003"


async def test_faults_never_touch_sandbox_routes_and_can_be_cleared(
    client: httpx.AsyncClient,
) -> None:
    """/_sandbox/* is exempt from faults; DELETE clears every rule."""
    await add_fault(client, kind="http_error")
    assert (await client.get("/_sandbox/users")).status_code == 200
    assert len((await client.get("/_sandbox/faults")).json()["active"]) == 1
    assert (await client.delete("/_sandbox/faults")).json()["active"] == []


async def test_invalid_fault_is_a_400(client: httpx.AsyncClient) -> None:
    """Malformed rules are rejected: unknown kind, transfer_outcome with a final code."""
    bad = [
        {"kind": "explode"},
        {"kind": "transfer_outcome", "rsp_code": "A0000"},
        {"kind": "latency"},
        {"kind": "latency", "seconds": 1, "phase": "after"},
    ]
    for spec in bad:
        assert (await client.post("/_sandbox/faults", json=spec)).status_code == 400, spec


async def test_faults_from_the_seed(
    clock: FakeClock, sleeper: SleepRecorder, ids: Iterator[str]
) -> None:
    """Faults listed in the seed are active from startup."""
    seed = make_seed()
    seed["faults"] = [
        {"kind": "latency", "seconds": 0.75, "path": ME},
        {"kind": "rsp_code", "rsp_code": "A0020", "path": ME, "count": 1},
    ]
    app = create_app(seed=seed, clock=clock.now, sleep=sleeper)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as http:
        token = await user_token(http)
        first = await http.get(ME, params={"user_seq_no": DEMO_SEQ}, headers=bearer(token))
        second = await http.get(ME, params={"user_seq_no": DEMO_SEQ}, headers=bearer(token))
    assert first.json()["rsp_code"] == "A0020"
    assert second.json()["rsp_code"] == "A0000"
    assert sleeper.calls == [0.75, 0.75]
