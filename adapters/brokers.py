"""Brokers beyond KIS that the composition root can put behind the ports, by section name.

`brokers: {<name>: {...}}` in the settings selects them; each entry here knows its adapter's
settings model, how to wire it over the shared resilient layer, its rate budgets and its
in-process sandbox. The composition root iterates this table, so adding a broker changes
`adapters/` (its folders and one entry here) and nothing under `orchestrator/`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import BaseModel

from adapters.http import Resilience
from adapters.http.settings import RateSpec
from orchestrator.ports import AccountSource, Clock, MarketData, OrderExecutor


@dataclass(frozen=True, slots=True)
class BrokerAdapters:
    """One broker's adapters of one app key, as the composition root hands them to the core."""

    name: str
    accounts: AccountSource
    executor: OrderExecutor
    market: MarketData
    renew_token: Callable[[], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class BrokerPlugin:
    name: str
    settings_model: type[BaseModel]
    rate_limits: Callable[[Any], dict[str, tuple[RateSpec, ...]]]
    http_client: Callable[[Any, httpx.AsyncBaseTransport | None], httpx.AsyncClient]
    build: Callable[[Any, Resilience, Any, httpx.AsyncClient, Clock], BrokerAdapters]
    sandbox_app: Callable[[Any], Any]  # an in-process sandbox of the settings' environment
    with_base_url: Callable[[Any, str], Any]
    # For the durable sandbox world: the world's name for the settings, and the `app.state`
    # attributes that hold the sandbox's whole state.
    sandbox_world: Callable[[Any], str]
    sandbox_state: tuple[str, ...]
    # Reconciliation defaults of an account this broker's source reads (investor records).
    reconcile_defaults: dict[str, Any]


def _kiwoom_rate_limits(settings: Any) -> dict[str, tuple[RateSpec, ...]]:
    limits: dict[str, tuple[RateSpec, ...]] = settings.rate_limits()
    return limits


def _kiwoom_http(settings: Any, transport: httpx.AsyncBaseTransport | None) -> httpx.AsyncClient:
    from adapters.kiwoom import kiwoom_http_client

    return kiwoom_http_client(settings, transport=transport)


def _kiwoom_build(
    settings: Any, resilience: Resilience, vault: Any, http: httpx.AsyncClient, clock: Clock
) -> BrokerAdapters:
    from adapters.kiwoom import build_kiwoom

    built = build_kiwoom(settings, resilience, vault, http, clock=clock)
    return BrokerAdapters(
        name=built.executor.name,
        accounts=built.accounts,
        executor=built.executor,
        market=built.market,
        renew_token=built.tokens.current,
    )


def _kiwoom_sandbox(settings: Any) -> Any:
    from adapters.sandbox.kiwoom import create_app

    return create_app(env=settings.env)


def _with_base_url(settings: Any, base_url: str) -> Any:
    return settings.model_copy(update={"base_url": base_url})


def _kiwoom_settings_model() -> type[BaseModel]:
    from adapters.kiwoom import KiwoomSettings

    return KiwoomSettings


PLUGINS: dict[str, BrokerPlugin] = {
    "kiwoom": BrokerPlugin(
        name="kiwoom",
        settings_model=_kiwoom_settings_model(),
        rate_limits=_kiwoom_rate_limits,
        http_client=_kiwoom_http,
        build=_kiwoom_build,
        sandbox_app=_kiwoom_sandbox,
        with_base_url=_with_base_url,
        sandbox_world=lambda settings: f"kiwoom-{settings.env}",
        sandbox_state=("kiwoom",),
        # entr (the deposit) moves on a fill and ignores cash reserved by open orders.
        reconcile_defaults={"cash_field": "deposit", "orders": "kiwoom"},
    ),
}
