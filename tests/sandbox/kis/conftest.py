"""Fixtures: sandbox apps on a frozen clock, reached in-process through httpx.ASGITransport."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import httpx
import pytest
import yaml
from starlette.applications import Starlette

from adapters.sandbox.kis import DEFAULT_SEED_PATH, SandboxClock, create_app
from adapters.sandbox.kis.broker import BASE_URLS
from adapters.sandbox.kis.clock import KST
from tests.sandbox.kis.helpers import Kis

# A Thursday, mid-session; T+2 from here is Monday 2026-03-16.
SESSION_TIME = datetime(2026, 3, 12, 10, 0, tzinfo=KST)


class FakeSleep:
    """Records requested delays instead of waiting."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def clock() -> SandboxClock:
    return SandboxClock(SESSION_TIME)


@pytest.fixture
def sleep() -> FakeSleep:
    return FakeSleep()


@pytest.fixture
def seed_data() -> dict[str, Any]:
    """The shipped default seed as a mutable mapping, for tests to adjust."""
    return copy.deepcopy(yaml.safe_load(DEFAULT_SEED_PATH.read_text(encoding="utf-8")))


AppFactory = Callable[..., Starlette]


@pytest.fixture
def make_app(clock: SandboxClock, sleep: FakeSleep, seed_data: dict[str, Any]) -> AppFactory:
    def build(env: str = "real", seed: dict[str, Any] | None = None) -> Starlette:
        return create_app(env=env, seed=seed or seed_data, clock=clock, sleep=sleep)  # type: ignore[arg-type]

    return build


async def connect(app: Starlette) -> AsyncIterator[Kis]:
    transport = httpx.ASGITransport(app=app)
    base_url = BASE_URLS[app.state.broker.env]
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as http:
        yield Kis(http, app.state.broker)


@pytest.fixture
async def real(make_app: AppFactory) -> AsyncIterator[Kis]:
    """A logged-in client of the real-flavour sandbox."""
    async for kis in connect(make_app("real")):
        await kis.login()
        yield kis


@pytest.fixture
async def paper(make_app: AppFactory) -> AsyncIterator[Kis]:
    """A logged-in client of the paper-flavour sandbox."""
    async for kis in connect(make_app("paper")):
        await kis.login()
        yield kis
