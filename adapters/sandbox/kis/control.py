"""`/_sandbox/*`: levers that exist only in the sandbox (accounts, clock, faults, cash).

The real API has nothing under this prefix; clients must never call it, demos and tests do.
Bad input is a plain 400 with `{"error": …}`, not a KIS envelope.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from adapters.sandbox.kis.broker import BASE_URLS, Broker
from adapters.sandbox.kis.clock import KST
from adapters.sandbox.kis.faults import FaultPlan
from adapters.sandbox.kis.hours import REGULAR_CLOSE, REGULAR_OPEN, can_match, window_for
from adapters.sandbox.kis.wire import json_response, num

M = TypeVar("M", bound=BaseModel)


class ClockChange(BaseModel):
    """`set` (ISO time; naive means KST), `advance_seconds`, `session`; applied in that order."""

    model_config = ConfigDict(extra="forbid")

    set: datetime | None = None
    advance_seconds: float | None = None
    session: Literal["auto", "open", "closed"] | None = None


class CashChange(BaseModel):
    """Move `delta` won in or out of an account's settled deposit, unseen by the client."""

    model_config = ConfigDict(extra="forbid")

    CANO: str = Field(pattern=r"^\d{8}$")
    ACNT_PRDT_CD: str = Field(default="01", pattern=r"^\d{2}$")
    delta: int


def _broker(request: Request) -> Broker:
    broker: Broker = request.app.state.broker
    return broker


async def _parse(request: Request, model: type[M]) -> M | Response:
    try:
        return model.model_validate(json.loads(await request.body() or b"{}"))
    except (ValueError, ValidationError) as e:
        return json_response({"error": str(e)}, 400)


def _clock_state(broker: Broker) -> dict[str, object]:
    now = broker.now()
    regular = window_for("regular", broker.env)
    return {
        "now": now.isoformat(),
        "session": broker.clock.session,
        "market_open": can_match(now, regular, broker.clock.session, broker.calendar),
        "regular_hours": f"{REGULAR_OPEN:%H:%M}-{REGULAR_CLOSE:%H:%M} KST",
        "ticking": broker.clock.ticking,
    }


async def accounts(request: Request) -> Response:
    """GET /_sandbox/accounts: demo credentials, accounts and their cash and holdings."""
    broker = _broker(request)
    broker.sync()
    apps = [
        {
            "appkey": app.appkey,
            "appsecret": app.appsecret,
            "accounts": [
                {"CANO": n.split("-")[0], "ACNT_PRDT_CD": n.split("-")[1]} for n in app.accounts
            ],
        }
        for app in broker.apps.values()
    ]
    listed = [
        {
            "CANO": account.cano,
            "ACNT_PRDT_CD": account.prdt,
            "dnca_tot_amt": num(account.deposit),
            "prvs_rcdl_excc_amt": num(broker.d2_cash(account)),
            "ord_psbl_cash": num(broker.orderable_cash(account)),
            "holdings": [
                {"pdno": p.pdno, "hldg_qty": num(p.qty)} for p in account.positions.values()
            ],
        }
        for account in broker.accounts.values()
    ]
    body = {
        "env": broker.env,
        "base_url": BASE_URLS[broker.env],
        "apps": apps,
        "accounts": listed,
        "rate_limited_replies": broker.limiter.refused,
    }
    return json_response(body)


async def clock(request: Request) -> Response:
    """GET or POST /_sandbox/clock: read, move or force the session of the sandbox clock."""
    broker = _broker(request)
    if request.method == "POST":
        change = await _parse(request, ClockChange)
        if isinstance(change, Response):
            return change
        # Trade out the time already passed under the old setting before changing it.
        broker.sync()
        if change.set is not None:
            target = change.set if change.set.tzinfo else change.set.replace(tzinfo=KST)
            broker.clock.set(target)
        if change.advance_seconds is not None:
            broker.clock.advance(change.advance_seconds)
        if change.session is not None:
            broker.clock.set_session(change.session)
    return json_response(_clock_state(broker))


async def faults(request: Request) -> Response:
    """GET, POST or DELETE /_sandbox/faults."""
    broker = _broker(request)
    if request.method == "DELETE":
        broker.faults.clear()
    elif request.method == "POST":
        plan = await _parse(request, FaultPlan)
        if isinstance(plan, Response):
            return plan
        broker.faults.apply(plan)
        if plan.expire_tokens:
            broker.tokens.expire_all(broker.now())
            broker.faults.injected["expire_tokens"] += 1
    return json_response(broker.faults.snapshot())


async def cash(request: Request) -> Response:
    """POST /_sandbox/cash: change a settled deposit behind the client's back."""
    broker = _broker(request)
    change = await _parse(request, CashChange)
    if isinstance(change, Response):
        return change
    account = broker.accounts.get(f"{change.CANO}-{change.ACNT_PRDT_CD}")
    if account is None:
        return json_response({"error": "unknown account"}, 404)
    account.deposit += change.delta
    return json_response(
        {
            "CANO": account.cano,
            "ACNT_PRDT_CD": account.prdt,
            "dnca_tot_amt": num(account.deposit),
            "prvs_rcdl_excc_amt": num(broker.d2_cash(account)),
        }
    )
