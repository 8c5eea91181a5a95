"""Fixtures: Kiwoom sandbox apps on a frozen clock, reached in-process over httpx.ASGITransport."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from adapters.sandbox.kiwoom import DEMO_SEED, KiwoomClock, create_app
from adapters.sandbox.kiwoom.state import KiwoomState
from adapters.sandbox.kiwoom.wire import KST

SESSION_TIME = datetime(2026, 3, 12, 10, 0, tzinfo=KST)
REAL_KEY = "KWdemoRealAppKey000000000000000001"
REAL_SECRET = "KWdemoRealSecretKeyNotARealKiwoomKey0001"
MOCK_KEY = "KWdemoMockAppKey000000000000000001"
MOCK_SECRET = "KWdemoMockSecretKeyNotARealKiwoomKey0001"
REAL_ACCOUNT = "5012345611"


class FakeSleep:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


class Kiwoom:
    """A thin test client speaking the wire format (no adapter code)."""

    def __init__(self, app: Starlette, http: httpx.AsyncClient, env: str) -> None:
        self.app = app
        self.http = http
        self.key, self.secret = (
            (REAL_KEY, REAL_SECRET) if env == "real" else (MOCK_KEY, MOCK_SECRET)
        )
        self.token = ""

    @property
    def state(self) -> KiwoomState:
        state: KiwoomState = self.app.state.kiwoom
        return state

    async def issue(self, **override: str) -> httpx.Response:
        body = {"grant_type": "client_credentials", "appkey": self.key, "secretkey": self.secret}
        body.update(override)
        return await self.http.post("/oauth2/token", json=body, headers={"api-id": "au10001"})

    async def login(self) -> str:
        self.token = (await self.issue()).json()["token"]
        return self.token

    async def tr(
        self,
        path: str,
        api_id: str,
        body: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        cont: str = "",
        next_key: str = "",
    ) -> httpx.Response:
        headers = {"api-id": api_id, "authorization": f"Bearer {token or self.token}"}
        if cont:
            headers |= {"cont-yn": cont, "next-key": next_key}
        return await self.http.post(f"/api/dostk/{path}", json=body or {}, headers=headers)

    async def buy(self, code: str, qty: int, price: int | None = None) -> httpx.Response:
        return await self.tr("ordr", "kt10000", order_body(code, qty, price))

    async def sell(self, code: str, qty: int, price: int | None = None) -> httpx.Response:
        return await self.tr("ordr", "kt10001", order_body(code, qty, price))


def order_body(code: str, qty: int, price: int | None) -> dict[str, str]:
    return {
        "dmst_stex_tp": "KRX",
        "stk_cd": code,
        "ord_qty": str(qty),
        "ord_uv": "" if price is None else str(price),
        "trde_tp": "3" if price is None else "0",
        "cond_uv": "",
    }


@pytest.fixture
def clock() -> KiwoomClock:
    return KiwoomClock(SESSION_TIME)


@pytest.fixture
def sleep() -> FakeSleep:
    return FakeSleep()


@pytest.fixture
def seed() -> dict[str, Any]:
    return copy.deepcopy(DEMO_SEED)


ClientFactory = Callable[..., Kiwoom]


@pytest.fixture
async def connect(
    clock: KiwoomClock, sleep: FakeSleep, seed: dict[str, Any]
) -> AsyncIterator[Callable[..., Kiwoom]]:
    clients: list[httpx.AsyncClient] = []

    def make(env: str = "real", **changes: Any) -> Kiwoom:
        app = create_app(env=env, seed={**seed, **changes}, clock=clock, sleep=sleep)  # type: ignore[arg-type]
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kiwoom")
        clients.append(http)
        return Kiwoom(app, http, env)

    yield make
    for http in clients:
        await http.aclose()


@pytest.fixture
async def real(connect: Callable[..., Kiwoom]) -> Kiwoom:
    client = connect("real")
    await client.login()
    return client
