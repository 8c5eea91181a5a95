"""`/_sandbox/*`: levers that exist only in the sandbox (accounts, investors, clock, faults,
cash).

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
from adapters.sandbox.kis.ledger import Account, Position
from adapters.sandbox.kis.seed import AppSeed, HoldingSeed
from adapters.sandbox.kis.wire import json_response, num

M = TypeVar("M", bound=BaseModel)
INVESTOR_CANO_BASE = 70_000_000  # accounts made by POST /_sandbox/investors: 7000000n-01


class ClockChange(BaseModel):
    """`set` (ISO time; naive means KST), `advance_seconds`, `session`; applied in that order."""

    model_config = ConfigDict(extra="forbid")

    set: datetime | None = None
    advance_seconds: float | None = None
    session: Literal["auto", "open", "closed"] | None = None


class NewInvestors(BaseModel):
    """`count` investors, each with their own app key, secret and account (cash + holdings)."""

    model_config = ConfigDict(extra="forbid")

    count: int = Field(default=1, ge=1, le=10_000)
    cash: int = Field(default=10_000_000, ge=0)
    holdings: tuple[HoldingSeed, ...] = ()


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


async def investors(request: Request) -> Response:
    """POST /_sandbox/investors: new accounts, each opened by its own new app key (as KIS issues
    a key per customer account). Answers the credentials the client attaches per investor;
    the keys are deterministic by creation order, so a restart of a seeded demo repeats them."""
    broker = _broker(request)
    wanted = await _parse(request, NewInvestors)
    if isinstance(wanted, Response):
        return wanted
    made = []
    for _ in range(wanted.count):
        n = len(broker.apps) + 1
        cano = f"{INVESTOR_CANO_BASE + n:08d}"
        while f"{cano}-01" in broker.accounts:
            n += 1
            cano = f"{INVESTOR_CANO_BASE + n:08d}"
        tag = "Real" if broker.env == "real" else "Papr"
        app = AppSeed(
            appkey=f"PSsbx{tag}Investor{n:018d}"[:36].ljust(36, "0"),
            appsecret=(f"SandboxInvestorSecret{n:08d}" * 8)[:180],
            accounts=(f"{cano}-01",),
        )
        account = Account(cano, "01", wanted.cash)
        for holding in wanted.holdings:
            cost = int(holding.avg_price * holding.qty)
            account.positions[holding.pdno] = Position(holding.pdno, holding.qty, cost)
        broker.apps[app.appkey] = app
        broker.accounts[account.number] = account
        made.append({"appkey": app.appkey, "appsecret": app.appsecret, "account": account.number})
    return json_response({"env": broker.env, "investors": made}, 201)


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
