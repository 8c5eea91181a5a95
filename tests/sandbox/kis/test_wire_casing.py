"""Header-name casing on the raw wire, for every route (spec §3, "Header-name casing on the
wire"): standard headers capitalised, KIS's own `tr_id`/`tr_cont`/`gt_uid` lowercase.

Read from the bytes uvicorn writes to a loopback socket, not from a client's header map
(httpx and requests fold names, which is exactly what would hide the bug).
"""

from __future__ import annotations

import asyncio
import json
from collections import namedtuple
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.applications import Starlette

from adapters.sandbox.kis.app import ENDPOINTS
from tests.sandbox.kis.conftest import AppFactory
from tests.sandbox.kis.helpers import TRADING
from tests.support.served import served

KIS_OWN = {"tr_id", "tr_cont", "gt_uid"}


class Raw:
    """One HTTP/1.1 exchange per call over a fresh socket; returns status, header names, body."""

    def __init__(self, port: int) -> None:
        self.port = port

    async def call(
        self, method: str, path: str, headers: dict[str, str], body: Any = None
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        payload = b"" if body is None else json.dumps(body).encode()
        lines = [f"{method} {path} HTTP/1.1", "Host: openapi.koreainvestment.com"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines.append(f"Content-Length: {len(payload)}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")[:-2]
        pairs = [tuple(line.split(": ", 1)) for line in header_lines]
        length = int(dict(pairs).get("Content-Length", "0"))
        content = await reader.readexactly(length)
        writer.close()
        await writer.wait_closed()
        return int(status_line.split()[1]), pairs, content  # type: ignore[return-value]


@pytest.fixture
async def wire(make_app: AppFactory) -> AsyncIterator[tuple[Raw, Starlette]]:
    app = make_app("real")
    async with served(app) as port:
        yield Raw(port), app


def assert_gateway_casing(pairs: list[tuple[str, str]]) -> None:
    names = [name for name, _ in pairs]
    for name in names:
        if name.lower() in KIS_OWN:
            assert name == name.lower(), name
        else:
            assert name == "-".join(p.capitalize() for p in name.split("-")), name
    assert {"Content-Type", "Content-Length", "Date"} <= set(names), names
    # What the official sample core does with the reply headers (spec §3): every
    # all-lowercase name becomes a namedtuple field. It must not raise.
    namedtuple("header", [n for n in names if n.islower()])


async def login(raw: Raw, app: Starlette) -> dict[str, str]:
    seed = next(iter(app.state.broker.apps.values()))
    status, _, body = await raw.call(
        "POST",
        "/oauth2/tokenP",
        {"Content-Type": "application/json", "Accept": "text/plain", "charset": "UTF-8"},
        {"grant_type": "client_credentials", "appkey": seed.appkey, "appsecret": seed.appsecret},
    )
    assert status == 200, body
    return {
        "Content-Type": "application/json",
        "authorization": f"Bearer {json.loads(body)['access_token']}",
        "appkey": seed.appkey,
        "appsecret": seed.appsecret,
        "custtype": "P",
        "tr_cont": "",
    }


async def test_every_route_writes_the_gateway_casing(wire: tuple[Raw, Starlette]) -> None:
    """Requests shaped like the official sample's (`Content-Type: application/json` without
    charset, `Accept: text/plain`, a `charset` header, `tr_cont: ""` even on orders) succeed;
    business APIs (success and failure), the OAuth chapter, the control API and unknown
    paths all write `Content-Type`, `Content-Length`, `Date` capitalised and `tr_id`,
    `gt_uid` (and `tr_cont` on pages) in lowercase."""
    raw, app = wire
    headers = await login(raw, app)
    broker = app.state.broker
    seed = next(iter(broker.apps.values()))
    cano, prdt = seed.accounts[0].split("-")
    account = {"CANO": cano, "ACNT_PRDT_CD": prdt}
    order = {**account, "PDNO": "005930", "ORD_DVSN": "00", "ORD_QTY": "1", "ORD_UNPR": "60000"}
    replies: dict[str, tuple[int, list[tuple[str, str]], bytes]] = {}
    placed = await raw.call(
        "POST", f"{TRADING}/order-cash", {**headers, "tr_id": "TTTC0012U"}, order
    )
    replies["order-cash"] = placed
    output = json.loads(placed[2])["output"]
    cancel = {
        **account,
        "KRX_FWDG_ORD_ORGNO": output["KRX_FWDG_ORD_ORGNO"],
        "ORGN_ODNO": output["ODNO"],
        "ORD_DVSN": "00",
        "RVSE_CNCL_DVSN_CD": "02",
        "ORD_QTY": "0",
        "ORD_UNPR": "0",
        "QTY_ALL_ORD_YN": "Y",
    }
    replies["order-rvsecncl"] = await raw.call(
        "POST", f"{TRADING}/order-rvsecncl", {**headers, "tr_id": "TTTC0013U"}, cancel
    )
    gets = {
        "inquire-balance": f"{TRADING}/inquire-balance?CANO={cano}&ACNT_PRDT_CD={prdt}"
        "&AFHR_FLPR_YN=N&OFL_YN=&INQR_DVSN=01&UNPR_DVSN=01&FUND_STTL_ICLD_YN=N"
        "&FNCG_AMT_AUTO_RDPT_YN=N&PRCS_DVSN=00&CTX_AREA_FK100=&CTX_AREA_NK100=",
        "inquire-daily-ccld": f"{TRADING}/inquire-daily-ccld?CANO={cano}&ACNT_PRDT_CD={prdt}"
        "&INQR_STRT_DT=20260312&INQR_END_DT=20260312&SLL_BUY_DVSN_CD=00&INQR_DVSN=00&PDNO="
        "&CCLD_DVSN=00&ORD_GNO_BRNO=&ODNO=&INQR_DVSN_3=00&INQR_DVSN_1=&CTX_AREA_FK100="
        "&CTX_AREA_NK100=",
        "inquire-psbl-order": f"{TRADING}/inquire-psbl-order?CANO={cano}&ACNT_PRDT_CD={prdt}"
        "&PDNO=005930&ORD_UNPR=&ORD_DVSN=01&CMA_EVLU_AMT_ICLD_YN=N&OVRS_ICLD_YN=N",
        "inquire-psbl-rvsecncl": f"{TRADING}/inquire-psbl-rvsecncl?CANO={cano}"
        f"&ACNT_PRDT_CD={prdt}&INQR_DVSN_1=0&INQR_DVSN_2=0&CTX_AREA_FK100=&CTX_AREA_NK100=",
        "inquire-psbl-sell": f"{TRADING}/inquire-psbl-sell?CANO={cano}&ACNT_PRDT_CD={prdt}"
        "&PDNO=005930",
        "inquire-price": "/uapi/domestic-stock/v1/quotations/inquire-price"
        "?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930",
    }
    tr_ids = {e.path.rsplit("/", 1)[1]: next(iter(e.tr_ids["real"])) for e in ENDPOINTS}
    for name, path in gets.items():
        replies[name] = await raw.call("GET", path, {**headers, "tr_id": tr_ids[name]})
    replies["gateway-error"] = await raw.call(
        "GET", gets["inquire-price"], {**headers, "tr_id": "FHKST01010100", "appsecret": "x"}
    )
    creds = {"appkey": seed.appkey, "appsecret": seed.appsecret}
    json_only = {"Content-Type": "application/json"}
    replies["tokenP-throttled"] = await raw.call(
        "POST", "/oauth2/tokenP", json_only, {"grant_type": "client_credentials", **creds}
    )
    replies["Approval"] = await raw.call(
        "POST",
        "/oauth2/Approval",
        json_only,
        {"grant_type": "client_credentials", "appkey": seed.appkey, "secretkey": seed.appsecret},
    )
    replies["hashkey"] = await raw.call("POST", "/uapi/hashkey", {**json_only, **creds}, order)
    replies["revokeP"] = await raw.call(
        "POST",
        "/oauth2/revokeP",
        json_only,
        {**creds, "token": headers["authorization"].split()[1]},
    )
    replies["_sandbox/accounts"] = await raw.call("GET", "/_sandbox/accounts", {})
    replies["_sandbox/clock"] = await raw.call("POST", "/_sandbox/clock", json_only, {})
    replies["_sandbox/faults"] = await raw.call("GET", "/_sandbox/faults", {})
    replies["_sandbox/websocket"] = await raw.call(
        "POST", "/_sandbox/websocket", json_only, {"delay_seconds": None}
    )
    replies["_sandbox/cash"] = await raw.call(
        "POST", "/_sandbox/cash", json_only, {"CANO": cano, "delta": 1}
    )
    replies["_sandbox/bad-input"] = await raw.call("POST", "/_sandbox/clock", json_only, [1])
    replies["unknown-path"] = await raw.call("GET", "/uapi/nope", {})

    statuses = {name: status for name, (status, _, _) in replies.items()}
    assert statuses["gateway-error"] == 500
    assert statuses["tokenP-throttled"] == 403
    assert statuses["unknown-path"] == 404
    assert statuses["_sandbox/bad-input"] == 400
    for name, (_, pairs, _) in replies.items():
        try:
            assert_gateway_casing(pairs)
        except AssertionError as e:
            raise AssertionError(f"{name}: {e}") from e
    business = [n for n in replies if n in tr_ids]
    assert all(dict(replies[n][1])["tr_id"] == tr_ids[n] for n in business)
    assert all(len(dict(replies[n][1])["gt_uid"]) == 32 for n in business)
    assert dict(replies["inquire-balance"][1])["tr_cont"] in {"D", "E"}


async def test_content_type_value_is_the_gateways(wire: tuple[Raw, Starlette]) -> None:
    """The value keeps the documented charset spelling (spec §3 response headers)."""
    raw, _ = wire
    _, pairs, _ = await raw.call("GET", "/_sandbox/faults", {})

    assert dict(pairs)["Content-Type"] == "application/json; charset=utf-8"


async def test_paper_routes_write_the_same_casing(make_app: AppFactory) -> None:
    """The paper host writes the same names (spec §1: one gateway, two hosts)."""
    app = make_app("paper")
    async with served(app) as port:
        raw = Raw(port)
        headers = await login(raw, app)
        app.state.broker.clock.advance(1)
        status, pairs, _ = await raw.call(
            "GET",
            "/uapi/domestic-stock/v1/quotations/inquire-price"
            "?FID_COND_MRKT_DIV_CODE=J&FID_INPUT_ISCD=005930",
            {**headers, "tr_id": "FHKST01010100"},
        )

    assert status == 200
    assert_gateway_casing(pairs)


@pytest.mark.parametrize("path", ["/", "/tryitout", "/tryitout/H0STCNT0"])
async def test_the_websocket_handshake_writes_capitalised_names(
    wire: tuple[Raw, Starlette], path: str
) -> None:
    """The websocket routes too (spec §3 casing, §1 websocket paths): the 101 reply's names
    are capitalised words (`Upgrade`, `Connection`, `Sec-WebSocket-Accept`, as
    the websockets library spells them), none all-lowercase with a hyphen."""
    raw, _ = wire
    reader, writer = await asyncio.open_connection("127.0.0.1", raw.port)
    request = [
        f"GET {path} HTTP/1.1",
        "Host: ops.koreainvestment.com:21000",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
    ]
    writer.write(("\r\n".join(request) + "\r\n\r\n").encode())
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    writer.close()
    status_line, *lines = head.decode("latin-1").split("\r\n")[:-2]
    names = [line.split(": ", 1)[0] for line in lines]

    assert status_line.split()[1] == "101"
    assert {"Upgrade", "Connection"} <= set(names)
    assert all(name[0].isupper() for name in names), names
    namedtuple("header", [n for n in names if n.islower()])  # the sample core's reading
