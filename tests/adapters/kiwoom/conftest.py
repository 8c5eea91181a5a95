"""Harness: the Kiwoom adapter against the Kiwoom sandbox, in-process over real HTTP semantics.

One FakeClock drives everything: the sandbox clock (which follows it), the adapter's clock, the
rate limiter's timer and every sleep (which moves both instead of waiting). A spy
transport in front of `InProcessTransport` records what was sent.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette

from adapters.fake import FakeClock, FakeTokenVault
from adapters.http import InProcessTransport, Resilience, ResilienceSettings, build_resilience
from adapters.kiwoom import Kiwoom, KiwoomSettings, build_kiwoom
from adapters.sandbox.kiwoom import DEMO_SEED, KiwoomClock, KiwoomState, create_app
from adapters.sandbox.kiwoom.wire import KST
from orchestrator.domain.model import AccountRef

SESSION_TIME = datetime(2026, 3, 12, 10, 0, tzinfo=KST)
ORDER_PATH = "/api/dostk/ordr"
ACCOUNT_PATH = "/api/dostk/acnt"
TOKEN_PATH = "/oauth2/token"


def shared_time() -> tuple[FakeClock, KiwoomClock]:
    """Our clock and the sandbox's, one and the same (as NTP would make them): the sandbox's
    clock follows the fake one, whose `sleep` moves both instead of waiting."""
    time = FakeClock(SESSION_TIME)
    return time, KiwoomClock(SESSION_TIME, ticking=True, wall=time.now)


class Spy(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return await self.inner.handle_async_request(request)

    def api_ids(self, path: str | None = None) -> list[str]:
        return [
            r.headers.get("api-id", "") for r in self.requests if path is None or r.url.path == path
        ]


def demo_settings(env: str, **overrides: Any) -> KiwoomSettings:
    app = next(a for a in DEMO_SEED["apps"] if a["env"] == env)  # type: ignore[attr-defined]
    data: dict[str, Any] = {
        "env": env,
        "base_url": "http://kiwoom.sandbox",
        "app_key": f"literal:{app['appkey']}",
        "secret_key": f"literal:{app['secretkey']}",
        "account_id": "kiwoom-main",
        **overrides,
    }
    return KiwoomSettings.model_validate(data)


@dataclass
class Harness:
    env: str
    app: Starlette
    time: FakeClock
    spy: Spy
    vault: FakeTokenVault
    settings: KiwoomSettings
    http: httpx.AsyncClient
    kiwoom: Kiwoom = field(init=False)
    account: AccountRef = field(init=False)
    built: list[Resilience] = field(default_factory=list)

    @property
    def state(self) -> KiwoomState:
        state: KiwoomState = self.app.state.kiwoom
        return state

    def build(self, **overrides: Any) -> Kiwoom:
        settings = self.settings.model_copy(update=overrides) if overrides else self.settings
        resilience = build_resilience(
            ResilienceSettings(
                backoff_jitter_seconds=0,
                max_wait_seconds=30,
                rate_limits=settings.rate_limits(),
            ),
            registry=CollectorRegistry(),
            clock=self.time,
            sleep=self.time.sleep,
            limiter_timer=self.time.monotonic,
        )
        self.built.append(resilience)
        return build_kiwoom(
            settings,
            resilience,
            self.vault,
            self.http,
            clock=self.time,
            cache_timer=self.time.monotonic,
        )

    async def control(self, path: str, body: dict[str, Any] | None = None) -> Any:
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as raw:
            response = await (raw.get(path) if body is None else raw.post(path, json=body))
        assert response.status_code == 200, response.text
        return response.json()

    async def faults(self, **plan: Any) -> None:
        await self.control("/_sandbox/faults", plan)


HarnessFactory = Callable[..., Awaitable[Harness]]


@pytest.fixture
def seed() -> dict[str, Any]:
    return copy.deepcopy(DEMO_SEED)


def many_holdings(base: dict[str, Any], account: str, count: int) -> dict[str, Any]:
    """The demo seed with `count` extra listed symbols, one share of each held by `account`."""
    seed = copy.deepcopy(base)
    for i in range(count):
        code = f"{200000 + i}"
        seed["prices"][code] = {"name": f"종목{i:03d}", "price": 10_000 + i, "base": 10_000}
        seed["accounts"][account]["holdings"][code] = {"quantity": 1, "avg_price": 9_000}
    return seed


@pytest.fixture
async def make_harness(seed: dict[str, Any]) -> AsyncIterator[HarnessFactory]:
    made: list[Harness] = []

    async def build(
        env: str = "real", *, seed_data: dict[str, Any] | None = None, **overrides: Any
    ) -> Harness:
        timeline, clock = shared_time()
        app = create_app(env=env, seed=seed_data or seed, clock=clock, sleep=timeline.sleep)  # type: ignore[arg-type]
        spy = Spy(InProcessTransport(app=app))
        harness = Harness(
            env=env,
            app=app,
            time=timeline,
            spy=spy,
            vault=FakeTokenVault(),
            settings=demo_settings(env, **overrides),
            http=httpx.AsyncClient(transport=spy),
        )
        harness.kiwoom = harness.build()
        (harness.account,) = await harness.kiwoom.accounts.accounts("demo")
        made.append(harness)
        return harness

    yield build
    for h in made:
        await h.http.aclose()
        for resilience in h.built:
            await resilience.aclose()


@pytest.fixture
async def h(make_harness: HarnessFactory) -> Harness:
    return await make_harness("real")
