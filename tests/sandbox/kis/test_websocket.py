"""The real-time websocket service over a real loopback socket (spec §2.4, §6 OPSP, §7.2)."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from starlette.applications import Starlette
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from adapters.sandbox.kis import SandboxClock, create_app
from adapters.sandbox.kis.prices import step_of, step_start
from tests.sandbox.kis.conftest import FakeSleep
from tests.sandbox.kis.helpers import Kis
from tests.support.served import served

WAIT = 5.0  # guard against a hang; frames normally arrive in milliseconds


def decrypt(key: str, iv: str, text: str) -> str:
    decryptor = Cipher(algorithms.AES(key.encode()), modes.CBC(iv.encode())).decryptor()
    data = decryptor.update(base64.b64decode(text)) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return (unpadder.update(data) + unpadder.finalize()).decode()


@dataclass
class World:
    app: Starlette
    http: httpx.AsyncClient
    kis: Kis
    port: int

    @property
    def broker(self) -> Any:
        return self.app.state.broker

    async def approval(self) -> str:
        response = await self.http.post(
            "/oauth2/Approval",
            json={
                "grant_type": "client_credentials",
                "appkey": self.kis.appkey,
                "secretkey": self.kis.appsecret,
            },
        )
        assert response.status_code == 200, response.text
        key: str = response.json()["approval_key"]
        return key

    def hts_id(self) -> str:
        app = next(iter(self.broker.apps.values()))
        hts: str = app.resolved_hts_id
        return hts

    async def lever(self, **body: Any) -> dict[str, Any]:
        response = await self.http.post("/_sandbox/websocket", json=body)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result


def message(approval: str, tr_id: str, tr_key: str, tr_type: str = "1") -> str:
    header = {"approval_key": approval, "custtype": "P", "tr_type": tr_type}
    return json.dumps(
        {
            "header": {**header, "content-type": "utf-8"},
            "body": {"input": {"tr_id": tr_id, "tr_key": tr_key}},
        }
    )


async def recv(ws: ClientConnection) -> str:
    text = await asyncio.wait_for(ws.recv(), WAIT)
    assert isinstance(text, str)
    return text


async def control(ws: ClientConnection) -> dict[str, Any]:
    """The next control (JSON) message, skipping data frames."""
    while True:
        text = await recv(ws)
        if text.startswith("{"):
            reply: dict[str, Any] = json.loads(text)
            return reply


async def data(ws: ClientConnection, tr_id: str) -> list[str]:
    """The fields of the next data frame of `tr_id`."""
    while True:
        text = await recv(ws)
        if text.startswith(("0|", "1|")) and text.split("|")[1] == tr_id:
            flag, _, count, payload = text.split("|", 3)
            assert (flag, count) == ("0", "001")
            return payload.split("^")


async def drain(ws: ClientConnection) -> None:
    """Read until the connection closes (frames sent before a drop may still be queued)."""
    while True:
        await recv(ws)


async def subscribe(ws: ClientConnection, approval: str, tr_id: str, key: str) -> dict[str, Any]:
    await ws.send(message(approval, tr_id, key))
    return await control(ws)


async def build(env: str, seed_data: dict[str, Any], sleep: FakeSleep) -> AsyncIterator[World]:
    from tests.sandbox.kis.conftest import SESSION_TIME

    app = create_app(
        env=env,  # type: ignore[arg-type]
        seed=seed_data,
        clock=SandboxClock(SESSION_TIME),
        sleep=sleep,
        ws_heartbeat_seconds=None,
    )
    async with served(app) as port, httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        kis = Kis(http, app.state.broker)
        kis.pace = 0.0
        await kis.login()
        yield World(app, http, kis, port)


@pytest.fixture
async def world(seed_data: dict[str, Any], sleep: FakeSleep) -> AsyncIterator[World]:
    async for w in build("real", seed_data, sleep):
        yield w


@pytest.fixture
async def paper_world(seed_data: dict[str, Any], sleep: FakeSleep) -> AsyncIterator[World]:
    async for w in build("paper", seed_data, sleep):
        yield w


async def test_subscribe_and_receive_trades_from_the_price_engine(world: World) -> None:
    """H0STCNT0: OPSP0000 with key/iv, then `0|H0STCNT0|001|…` frames of 46 fields whose
    price is the price engine's for that 10-second step, one per step as the clock moves."""
    approval = await world.approval()
    async with connect(f"ws://127.0.0.1:{world.port}/tryitout") as ws:
        reply = await subscribe(ws, approval, "H0STCNT0", "005930")
        first = await data(ws, "H0STCNT0")
        await world.http.post("/_sandbox/clock", json={"advance_seconds": 30})
        later = [await data(ws, "H0STCNT0") for _ in range(3)]

    assert reply["header"] == {"tr_id": "H0STCNT0", "tr_key": "005930", "encrypt": "N"}
    assert (reply["body"]["rt_cd"], reply["body"]["msg_cd"]) == ("0", "OPSP0000")
    assert reply["body"]["msg1"] == "SUBSCRIBE SUCCESS"
    output = reply["body"]["output"]
    assert (len(output["key"]), len(output["iv"])) == (32, 16)
    prices = world.broker.prices
    start = step_of(world.broker.now()) - 3
    expected = [str(prices.price("005930", step_start(start + i))) for i in range(4)]
    assert [len(f) for f in [first, *later]] == [46] * 4
    assert [f[0] for f in [first, *later]] == ["005930"] * 4
    assert [f[2] for f in [first, *later]] == expected
    assert [f[1] for f in [first, *later]] == ["100000", "100010", "100020", "100030"]


async def test_quotes_are_ten_levels_either_side(world: World) -> None:
    """H0STASP0 frames have 59 fields; asks above bids, one tick apart."""
    approval = await world.approval()
    async with connect(f"ws://127.0.0.1:{world.port}/") as ws:
        await subscribe(ws, approval, "H0STASP0", "005930")
        fields = await data(ws, "H0STASP0")

    asks = [int(x) for x in fields[3:13]]
    bids = [int(x) for x in fields[13:23]]
    assert len(fields) == 59
    assert asks == sorted(asks)
    assert bids == sorted(bids, reverse=True)
    assert asks[0] - bids[0] == 100  # 005930 trades on a 100-won tick near 71,000


async def notices(ws: ClientConnection, secret: dict[str, str], n: int) -> list[list[str]]:
    out = []
    while len(out) < n:
        text = await recv(ws)
        if text.startswith("1|H0STCNI"):
            _, _, count, payload = text.split("|", 3)
            assert count == "001"
            out.append(decrypt(secret["key"], secret["iv"], payload).split("^"))
    return out


async def test_order_and_fill_notices_are_encrypted_per_event(world: World) -> None:
    """H0STCNI0 for the HTS ID: encrypt Y; one AES-256-CBC frame per accept, fill, cancel and
    reject, 26 fields, CNTG_YN 2 only for the fill (spec §7.2)."""
    approval = await world.approval()
    kis = world.kis
    async with connect(f"ws://127.0.0.1:{world.port}/tryitout") as ws:
        reply = await subscribe(ws, approval, "H0STCNI0", world.hts_id())
        secret = reply["body"]["output"]
        market = (await kis.order("buy", "005930", 3)).json()["output"]["ODNO"]
        resting = (await kis.order("buy", "005930", 2, 60000, "00")).json()
        await kis.amend(resting)
        await kis.order("buy", "005930", 100_000, 71000, "00")  # more than the cash
        got = await notices(ws, secret, 5)

    assert reply["header"]["encrypt"] == "Y"
    assert [len(f) for f in got] == [26] * 5
    fields = ["ODER_NO", "RCTF_CLS", "CNTG_QTY", "CNTG_YN", "RFUS_YN", "ACPT_YN"]
    index = [2, 5, 9, 13, 12, 14]
    rows = [tuple(f[i] for i in index) for f in got]
    resting_no = resting["output"]["ODNO"]
    assert dict(zip(fields, rows[1], strict=True))["CNTG_YN"] == "2"
    assert rows == [
        (market, "0", "3", "1", "0", "1"),
        (market, "0", "3", "2", "0", "2"),
        (resting_no, "0", "2", "1", "0", "1"),
        (rows[3][0], "2", "2", "1", "0", "2"),
        ("", "0", "100000", "1", "1", "1"),
    ]
    assert got[0][0] == world.hts_id()
    assert got[1][10] == str(world.broker.book.find(market).filled_amount // 3)
    assert got[3][3] == resting_no  # OODER_NO of the cancel points at the original


async def test_paper_notices_use_h0stcni9_on_the_bare_path(paper_world: World) -> None:
    """Paper delivers H0STCNI9 and refuses the real notice TR with OPSP8991."""
    approval = await paper_world.approval()
    async with connect(f"ws://127.0.0.1:{paper_world.port}") as ws:
        refused = await subscribe(ws, approval, "H0STCNI0", paper_world.hts_id())
        reply = await subscribe(ws, approval, "H0STCNI9", paper_world.hts_id())
        paper_world.broker.clock.set_session("open")
        await paper_world.kis.order("buy", "005930", 1)
        got = await notices(ws, reply["body"]["output"], 2)

    assert refused["body"]["msg_cd"] == "OPSP8991"
    assert [f[13] for f in got] == ["1", "2"]


@pytest.fixture
async def wide_world(seed_data: dict[str, Any], sleep: FakeSleep) -> AsyncIterator[World]:
    """The default seed plus 20 more listed symbols, enough for 41 registrations."""
    extra = [
        {"pdno": f"{900000 + i}", "name": f"SANDBOX{i}", "base_price": 10000} for i in range(20)
    ]
    async for w in build("real", {**seed_data, "symbols": [*seed_data["symbols"], *extra]}, sleep):
        yield w


async def test_the_41st_subscription_is_refused_with_opsp0008(wide_world: World) -> None:
    """40 registrations per session; then MAX SUBSCRIBE OVER. Repeats, unsubscribe and
    unknown keys answer their own codes."""
    world = wide_world
    approval = await world.approval()
    symbols = sorted(world.broker.prices.symbols)
    keys = [(tr, s) for s in symbols for tr in ("H0STCNT0", "H0STASP0")]
    keys.insert(0, ("H0STCNI0", world.hts_id()))
    async with connect(f"ws://127.0.0.1:{world.port}/tryitout") as ws:
        codes = [(await subscribe(ws, approval, tr, k))["body"]["msg_cd"] for tr, k in keys[:41]]
        again = await subscribe(ws, approval, *keys[0])
        await ws.send(message(approval, *keys[0], tr_type="2"))
        off = await control(ws)
        await ws.send(message(approval, *keys[0], tr_type="2"))
        off_again = await control(ws)
        after_room = await subscribe(ws, approval, *keys[40])

    assert codes == ["OPSP0000"] * 40 + ["OPSP0008"]
    assert (again["body"]["msg_cd"], off["body"]["msg_cd"]) == ("OPSP0002", "OPSP0001")
    assert off["body"]["msg1"] == "UNSUBSCRIBE SUCCESS"
    assert off_again["body"]["msg_cd"] == "OPSP0003"
    assert after_room["body"]["msg_cd"] == "OPSP0000"


async def test_bad_requests_answer_opsp_codes(world: World) -> None:
    """Unknown approval key OPSP0011; wrong HTS ID or symbol OPSP8992; unknown TR OPSP8991;
    bad tr_type OPSP8997; not JSON OPSP9999; no header OPSP9998."""
    approval = await world.approval()
    async with connect(f"ws://127.0.0.1:{world.port}/tryitout") as ws:
        replies = [
            await subscribe(ws, "0" * 36, "H0STCNT0", "005930"),
            await subscribe(ws, approval, "H0STCNI0", "someoneelse"),
            await subscribe(ws, approval, "H0STCNT0", "999999"),
            await subscribe(ws, approval, "H0XXXXX0", "005930"),
        ]
        await ws.send(message(approval, "H0STCNT0", "005930", tr_type="7"))
        replies.append(await control(ws))
        await ws.send("not json")
        replies.append(await control(ws))
        await ws.send(json.dumps({"body": {}}))
        replies.append(await control(ws))

    assert [r["body"]["msg_cd"] for r in replies] == [
        "OPSP0011",
        "OPSP8992",
        "OPSP8992",
        "OPSP8991",
        "OPSP8997",
        "OPSP9999",
        "OPSP9998",
    ]
    assert {r["body"]["rt_cd"] for r in replies} == {"1"}


async def test_a_second_session_of_the_same_app_key_is_opsp8996(world: World) -> None:
    """One session per app key (spec §7.2)."""
    approval = await world.approval()
    async with connect(f"ws://127.0.0.1:{world.port}/tryitout") as first:
        await subscribe(first, approval, "H0STCNT0", "005930")
        async with connect(f"ws://127.0.0.1:{world.port}/tryitout") as second:
            reply = await subscribe(second, approval, "H0STCNT0", "000660")

    assert (reply["body"]["rt_cd"], reply["body"]["msg_cd"]) == ("9", "OPSP8996")


async def test_heartbeats_not_echoed_close_the_session(world: World) -> None:
    """A PINGPONG echoed keeps the session; one left unanswered when the next is due closes it."""
    approval = await world.approval()
    async with connect(f"ws://127.0.0.1:{world.port}/tryitout") as ws:
        await subscribe(ws, approval, "H0STCNI0", world.hts_id())
        await world.lever(heartbeat=True)
        ping = await control(ws)
        await ws.send(json.dumps(ping))
        for _ in range(20):  # the echo is read by the server's own task; let it land
            if not (await world.lever())["sessions"][0]["awaiting_echo"]:
                break
        await world.lever(heartbeat=True)
        second = await control(ws)
        await world.lever(heartbeat=True)  # the second was not echoed
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), WAIT)

    assert ping["header"]["tr_id"] == second["header"]["tr_id"] == "PINGPONG"
    assert world.broker.realtime.dropped == 1


async def until_echo_seen(world: World) -> bool:
    """Whether the server marked the PINGPONG answered (it reads on its own task: a bounded
    number of round trips, no sleeping)."""
    for _ in range(50):
        if not (await world.lever())["sessions"][0]["awaiting_echo"]:
            return True
    return False


async def test_pingpong_answered_with_a_pong_frame_keeps_the_session(world: World) -> None:
    """Spec §7.2: PINGPONG must be answered or the connection drops. The newest official
    sample core answers with a websocket pong control frame carrying the PINGPONG text
    (`ws.pong(raw)`) instead of sending the text back; that is an answer too."""
    approval = await world.approval()
    async with connect(f"ws://127.0.0.1:{world.port}/tryitout", ping_interval=None) as ws:
        await subscribe(ws, approval, "H0STCNI0", world.hts_id())
        for _ in range(3):  # three rounds, each answered only by a pong frame
            await world.lever(heartbeat=True)
            raw = await recv(ws)
            assert json.loads(raw)["header"]["tr_id"] == "PINGPONG"
            await ws.pong(raw)
            assert await until_echo_seen(world)
        await world.lever(heartbeat=True)
        still_open = json.loads(await recv(ws))

    assert still_open["header"]["tr_id"] == "PINGPONG"
    assert world.broker.realtime.dropped == 0


async def test_a_pong_without_the_pingpong_text_is_no_answer(world: World) -> None:
    """A pong carrying anything else (a keepalive's bytes) does not answer PINGPONG: the next
    heartbeat closes the session, as for a client that stays silent."""
    approval = await world.approval()
    async with connect(f"ws://127.0.0.1:{world.port}/tryitout", ping_interval=None) as ws:
        await subscribe(ws, approval, "H0STCNI0", world.hts_id())
        await world.lever(heartbeat=True)
        await control(ws)
        await ws.pong(b"keepalive")
        answered = await ws.ping()  # a round trip: the stray pong has been read by then
        await asyncio.wait_for(answered, WAIT)
        await world.lever(heartbeat=True)
        with pytest.raises(ConnectionClosed):
            await drain(ws)

    assert world.broker.realtime.dropped == 1


async def test_fault_levers_drop_connections_and_delay_frames(
    world: World, sleep: FakeSleep
) -> None:
    """drop_after_frames closes a session mid-stream; drop_now closes at once; delay_seconds
    holds frames back (through the sandbox's sleep, faked here)."""
    approval = await world.approval()
    await world.lever(delay_seconds=2.5, drop_after_frames=1)
    async with connect(f"ws://127.0.0.1:{world.port}/tryitout") as ws:
        await subscribe(ws, approval, "H0STCNT0", "005930")
        await data(ws, "H0STCNT0")
        await world.http.post("/_sandbox/clock", json={"advance_seconds": 10})
        with pytest.raises(ConnectionClosed):
            await data(ws, "H0STCNT0")
    await world.lever(delay_seconds=None)
    async with connect(f"ws://127.0.0.1:{world.port}/tryitout") as ws:
        await subscribe(ws, approval, "H0STCNT0", "005930")
        await world.lever(drop_now=True)
        with pytest.raises(ConnectionClosed):
            await drain(ws)

    assert 2.5 in sleep.calls
    assert world.broker.realtime.dropped == 2
