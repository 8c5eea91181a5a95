"""The sandbox served by uvicorn on a loopback port, driven by a real httpx client."""

from __future__ import annotations

import asyncio
import socket
import time

import httpx
import pytest
import uvicorn

from adapters.fake import FakeClock
from adapters.sandbox.openbanking import create_app

from .conftest import START, SleepRecorder

STARTUP_DEADLINE_SECONDS = 10.0


async def test_served_over_loopback_end_to_end() -> None:
    """Real HTTP on the default seed: token, user/me, wrong method, a drop closing the socket."""
    app = create_app(clock=FakeClock(START).now, sleep=SleepRecorder())
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="critical"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    deadline = time.monotonic() + STARTUP_DEADLINE_SECONDS
    while not server.started:  # yield to the server task; no wall-clock sleeping
        assert time.monotonic() < deadline, "uvicorn did not start in time"
        assert not task.done(), "uvicorn exited during startup"
        await asyncio.sleep(0)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            users = (await http.get("/_sandbox/users")).json()
            creds = users["clients"][0]
            assert creds["client_id"] == "sandbox-demo-client-id"
            authorize = await http.get(
                "/oauth/2.0/authorize",
                params={
                    "response_type": "code",
                    "client_id": creds["client_id"],
                    "redirect_uri": creds["redirect_uris"][0],
                    "scope": "login inquiry",
                    "state": "x" * 32,
                    "auth_type": "0",
                    "sandbox_auto_consent": "demo",
                },
            )
            assert authorize.status_code == 302
            code = httpx.URL(authorize.headers["location"]).params["code"]
            token = (
                await http.post(
                    "/oauth/2.0/token",
                    data={
                        "grant_type": "authorization_code",
                        "code": code,
                        "client_id": creds["client_id"],
                        "client_secret": creds["client_secret"],
                        "redirect_uri": creds["redirect_uris"][0],
                    },
                )
            ).json()
            headers = {"Authorization": f"Bearer {token['access_token']}"}
            me = await http.get(
                "/v2.0/user/me", params={"user_seq_no": "1100000001"}, headers=headers
            )
            assert me.status_code == 200
            assert me.json()["user_name"] == "김데모"
            wrong = await http.post("/v2.0/user/me", headers=headers)
            assert wrong.status_code == 200
            assert wrong.json()["rsp_code"] == "O0010"
            await http.post("/_sandbox/faults", json={"kind": "drop", "count": 1})
            with pytest.raises(httpx.RemoteProtocolError):
                await http.get(
                    "/v2.0/user/me", params={"user_seq_no": "1100000001"}, headers=headers
                )
            again = await http.get(
                "/v2.0/user/me", params={"user_seq_no": "1100000001"}, headers=headers
            )
            assert again.json()["rsp_code"] == "A0000"
    finally:
        server.should_exit = True
        await task
