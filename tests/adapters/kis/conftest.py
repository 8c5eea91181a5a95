"""Harness: the KIS adapter against the KIS sandbox, in-process over real HTTP semantics.

One FakeClock drives everything: the sandbox clock (which follows it from a Thursday
mid-session), the adapter's clock, the rate limiter's timer and every sleep (which moves both
instead of waiting). A spy transport in front of `InProcessTransport` records what was sent.
"""

from __future__ import annotations

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
from adapters.kis import Kis, KisSettings, TokenVault, build_kis
from adapters.sandbox.kis import SandboxClock, create_app
from adapters.sandbox.kis.broker import Broker
from adapters.sandbox.kis.clock import KST
from orchestrator.domain.model import AccountRef

# A Thursday, mid-session; T+2 from here is Monday 2026-03-16.
SESSION_TIME = datetime(2026, 3, 12, 10, 0, tzinfo=KST)
TRADING = "/uapi/domestic-stock/v1/trading"
ORDER_CASH = f"{TRADING}/order-cash"
BALANCE = f"{TRADING}/inquire-balance"
DAILY = f"{TRADING}/inquire-daily-ccld"
TOKEN = "/oauth2/tokenP"


def shared_time() -> tuple[FakeClock, SandboxClock]:
    """Our clock and the sandbox's, one and the same (as NTP would make them): the sandbox's
    clock follows the fake one, whose `sleep` moves both instead of waiting."""
    time = FakeClock(SESSION_TIME)
    return time, SandboxClock(SESSION_TIME, ticking=True, wall=time.now)


Hook = Callable[[httpx.Request, httpx.Response], Awaitable[None]]


class Spy(httpx.AsyncBaseTransport):
    """Records every request (before it is sent) and may act after each response."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []
        self.after: Hook | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        response = await self.inner.handle_async_request(request)
        if self.after is not None:
            await response.aread()
            await self.after(request, response)
        return response

    def count(self, path: str) -> int:
        return sum(1 for r in self.requests if r.url.path == path)

    def sent(self, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == path]


@dataclass
class Harness:
    """One sandbox environment and the adapters built on it."""

    env: str
    app: Starlette
    time: FakeClock
    spy: Spy
    vault: TokenVault
    settings: KisSettings
    http: httpx.AsyncClient
    kis: Kis
    account: AccountRef
    built: list[Resilience] = field(default_factory=list)

    @property
    def broker(self) -> Broker:
        broker: Broker = self.app.state.broker
        return broker

    def restart(self, vault: TokenVault | None = None, **overrides: Any) -> Kis:
        """New adapters (new resilience, new token holder) over the same sandbox: a restart."""
        settings = self.settings.model_copy(update=overrides) if overrides else self.settings
        return build_kis(
            settings,
            self._resilience(),
            vault or self.vault,
            self.http,
            clock=self.time,
            sleep=self.time.sleep,
            cache_timer=self.time.monotonic,
        )

    def _resilience(self) -> Resilience:
        resilience = build_resilience(
            ResilienceSettings(backoff_jitter_seconds=0, max_wait_seconds=5),
            registry=CollectorRegistry(),
            clock=self.time,
            sleep=self.time.sleep,
            limiter_timer=self.time.monotonic,
        )
        self.built.append(resilience)
        return resilience

    async def control(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """Call a `/_sandbox/*` lever directly (not through the spy)."""
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as raw:
            if body is None:
                response = await raw.get(path)
            else:
                response = await raw.post(path, json=body)
        assert response.status_code == 200, response.text
        return response.json()

    async def faults(self, **plan: Any) -> None:
        await self.control("/_sandbox/faults", plan)

    def orders(self) -> list[Any]:
        return list(self.broker.book.orders)


async def demo_settings(app: Starlette, **overrides: Any) -> KisSettings:
    """KisSettings for the sandbox's demo credentials, as `literal:` secret references."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as raw:
        listed = (await raw.get("/_sandbox/accounts")).json()
    demo = listed["apps"][0]
    account = demo["accounts"][0]
    data: dict[str, Any] = {
        "env": listed["env"],
        "app_key": f"literal:{demo['appkey']}",
        "app_secret": f"literal:{demo['appsecret']}",
        "account": f"literal:{account['CANO']}-{account['ACNT_PRDT_CD']}",
        **overrides,
    }
    return KisSettings.model_validate(data)


def holdings_seed(base: dict[str, Any], env: str, count: int) -> dict[str, Any]:
    """The default seed with `count` extra symbols, each held (1 share) by `env`'s account."""
    symbols = [
        {"pdno": f"{100000 + i}", "name": f"종목{i:03d}", "base_price": 10000} for i in range(count)
    ]
    seed = {**base, "symbols": [*base["symbols"], *symbols]}
    envs = dict(seed["envs"])
    env_seed = dict(envs[env])
    account = dict(env_seed["accounts"][0])
    account["holdings"] = [
        *account.get("holdings", []),
        *({"pdno": s["pdno"], "qty": 1, "avg_price": "10000"} for s in symbols),
    ]
    env_seed["accounts"] = [account, *env_seed["accounts"][1:]]
    envs[env] = env_seed
    seed["envs"] = envs
    return seed


HarnessFactory = Callable[..., Awaitable[Harness]]


@pytest.fixture
def seed_data() -> dict[str, Any]:
    import copy

    import yaml

    from adapters.sandbox.kis import DEFAULT_SEED_PATH

    return copy.deepcopy(yaml.safe_load(DEFAULT_SEED_PATH.read_text(encoding="utf-8")))


@pytest.fixture
async def make_harness(seed_data: dict[str, Any]) -> AsyncIterator[HarnessFactory]:
    """Builds harnesses; closes their HTTP clients and resilience at the end."""
    made: list[Harness] = []

    async def build(
        env: str = "real",
        *,
        seed: dict[str, Any] | None = None,
        vault: TokenVault | None = None,
        **overrides: Any,
    ) -> Harness:
        timeline, clock = shared_time()
        app = create_app(env=env, seed=seed or seed_data, clock=clock, sleep=timeline.sleep)  # type: ignore[arg-type]
        settings = await demo_settings(app, **overrides)
        spy = Spy(InProcessTransport(app=app))
        http = httpx.AsyncClient(transport=spy)
        harness = Harness(
            env=env,
            app=app,
            time=timeline,
            spy=spy,
            vault=vault or FakeTokenVault(),
            settings=settings,
            http=http,
            kis=None,  # type: ignore[arg-type]
            account=None,  # type: ignore[arg-type]
        )
        harness.kis = harness.restart()
        harness.account = (await harness.kis.accounts.accounts("demo"))[0]
        made.append(harness)
        return harness

    yield build
    for harness in made:
        await harness.http.aclose()
        for resilience in harness.built:
            await resilience.aclose()


@pytest.fixture
async def real(make_harness: HarnessFactory) -> Harness:
    """The adapter on the real-flavour sandbox."""
    return await make_harness("real")


@pytest.fixture
async def paper(make_harness: HarnessFactory) -> Harness:
    """The adapter on the paper-flavour sandbox (1 request/s, 20-row balance pages)."""
    return await make_harness("paper")
