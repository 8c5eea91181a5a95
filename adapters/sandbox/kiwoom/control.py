"""`/_sandbox/*`: levers only the sandbox has (state, faults, prices, cash, clock, settings).

Clients of the real API never call these; demos and tests do. Bad input is a plain 400
`{"error": ...}`, not a Kiwoom envelope.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from adapters.sandbox.kiwoom.faults import FaultPlan
from adapters.sandbox.kiwoom.state import Holding, KiwoomState, ThrottleStyle
from adapters.sandbox.kiwoom.wire import json_response

M = TypeVar("M", bound=BaseModel)


class PriceChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stk_cd: str = Field(pattern=r"^\d{6}$")
    price: int = Field(gt=0)


class CashChange(BaseModel):
    """Move `delta` won in or out of an account behind the client's back."""

    model_config = ConfigDict(extra="forbid")
    account: str = Field(pattern=r"^\d{10}$")
    delta: int


class HoldingChange(BaseModel):
    """Set a holding's quantity behind the client's back (a transfer-in, a corporate action)."""

    model_config = ConfigDict(extra="forbid")
    account: str = Field(pattern=r"^\d{10}$")
    stk_cd: str = Field(pattern=r"^\d{6}$")
    quantity: int = Field(ge=0)


class SettingsChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    throttle_style: ThrottleStyle | None = None
    page_size: int | None = Field(default=None, ge=1, le=500)
    queries_per_second: int | None = Field(default=None, ge=1)
    orders_per_second: int | None = Field(default=None, ge=1)


class ClockChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    set: datetime | None = None
    advance_seconds: float | None = None


def _state(request: Request) -> KiwoomState:
    state: KiwoomState = request.app.state.kiwoom
    return state


async def _parse(request: Request, model: type[M]) -> M | Response:
    try:
        return model.model_validate(json.loads(await request.body() or b"{}"))
    except (ValueError, ValidationError) as e:
        return json_response({"error": str(e)}, 400)


def describe(state: KiwoomState) -> dict[str, object]:
    kinds = {"new": 0, "cancel": 0, "modify": 0}
    for order in state.orders:
        kinds[order.kind] += 1
    return {
        "env": state.env,
        "now": state.now().isoformat(),
        "accounts": {
            number: {
                "cash": a.cash,
                "holdings": {c: h.quantity for c, h in sorted(a.holdings.items())},
            }
            for number, a in state.accounts.items()
        },
        "orders": kinds,
        "throttled": state.windows.refused,
        "throttle_style": state.throttle_style,
        "page_size": state.page_size,
        "faults": state.faults.snapshot(),
    }


async def show(request: Request) -> Response:
    return json_response(describe(_state(request)))


async def faults(request: Request) -> Response:
    state = _state(request)
    if request.method == "DELETE":
        state.faults.clear()
    elif request.method == "POST":
        plan = await _parse(request, FaultPlan)
        if isinstance(plan, Response):
            return plan
        state.faults.apply(plan)
        if plan.expire_tokens:
            state.expire_tokens()
            state.faults.injected["expire_tokens"] += 1
    return json_response(state.faults.snapshot())


async def price(request: Request) -> Response:
    state = _state(request)
    change = await _parse(request, PriceChange)
    if isinstance(change, Response):
        return change
    if change.stk_cd not in state.prices:
        return json_response({"error": f"unknown stk_cd {change.stk_cd}"}, 400)
    state.prices[change.stk_cd] = change.price
    state.match()
    return json_response(describe(state))


async def cash(request: Request) -> Response:
    state = _state(request)
    change = await _parse(request, CashChange)
    if isinstance(change, Response):
        return change
    held = state.accounts.get(change.account)
    if held is None or held.cash + change.delta < 0:
        return json_response({"error": "unknown account or cash would go negative"}, 400)
    held.cash += change.delta
    return json_response(describe(state))


async def holding(request: Request) -> Response:
    state = _state(request)
    change = await _parse(request, HoldingChange)
    if isinstance(change, Response):
        return change
    held = state.accounts.get(change.account)
    if held is None or change.stk_cd not in state.prices:
        return json_response({"error": "unknown account or stk_cd"}, 400)
    if change.quantity == 0:
        held.holdings.pop(change.stk_cd, None)
    else:
        current = held.holdings.get(change.stk_cd)
        avg = current.cost // current.quantity if current else state.prices[change.stk_cd]
        held.holdings[change.stk_cd] = Holding(change.quantity, avg * change.quantity)
    return json_response(describe(state))


async def settings(request: Request) -> Response:
    state = _state(request)
    change = await _parse(request, SettingsChange)
    if isinstance(change, Response):
        return change
    if change.throttle_style is not None:
        state.throttle_style = change.throttle_style
    if change.page_size is not None:
        state.page_size = change.page_size
    if change.queries_per_second is not None:
        state.queries_per_second = change.queries_per_second
    if change.orders_per_second is not None:
        state.orders_per_second = change.orders_per_second
    return json_response(describe(state))


async def clock(request: Request) -> Response:
    state = _state(request)
    if request.method == "POST":
        change = await _parse(request, ClockChange)
        if isinstance(change, Response):
            return change
        try:
            if change.set is not None:
                state.clock.set(change.set)
        except ValueError as e:
            return json_response({"error": str(e)}, 400)
        if change.advance_seconds is not None:
            state.clock.advance(change.advance_seconds)
    return json_response({"now": state.now().isoformat(), "ticking": state.clock.ticking})
