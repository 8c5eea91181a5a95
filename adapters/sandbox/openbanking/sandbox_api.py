"""``/_sandbox/*``: control endpoints that exist only in the sandbox (never on the real relay).

Plain REST with ordinary HTTP status codes — these are for demos and tests, not a KFTC imitation.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .codes import institution_name
from .faults import FaultSpec
from .formats import mask_account_num, parse_dtime
from .ledger import InoutType
from .state import Relay


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TransactionIn(_Body):
    fintech_use_num: str
    inout_type: InoutType
    tran_amt: int = Field(ge=0)
    tran_type: str = "대체"
    print_content: str = ""
    branch_name: str = ""
    # Defaults to the sandbox clock's now; a past value books a back-dated row (its after-balance
    # is still the balance at booking time — exactly the kind of break a reconciler should flag).
    tran_dtime: Annotated[str, StringConstraints(pattern=r"^[0-9]{14}$")] | None = None


class BalanceIn(_Body):
    fintech_use_num: str
    balance_amt: int | None = None
    hold_amt: int | None = Field(default=None, ge=0)


_FAULTS = TypeAdapter(FaultSpec | list[FaultSpec])


def _relay(request: Request) -> Relay:
    relay: Relay = request.app.state.relay
    return relay


def _bad(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _json(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        return None


async def users(request: Request) -> Response:
    relay = _relay(request)
    return JSONResponse(
        {
            "users": [
                {
                    "id": u.id,
                    "user_seq_no": u.user_seq_no,
                    "user_name": u.user_name,
                    "user_ci": u.user_ci,
                    "accounts": [
                        {
                            "fintech_use_num": a.fintech_use_num,
                            "bank_code_std": a.bank_code_std,
                            "bank_name": institution_name(a.bank_code_std),
                            "account_num_masked": mask_account_num(a.account_num),
                            "account_state": a.account_state,
                            "balance_amt": str(a.balance),
                            "transactions": len(a.history),
                        }
                        for a in relay.accounts_of(u.user_seq_no)
                    ],
                }
                for u in relay.users.values()
            ],
            "clients": [
                {
                    "client_id": c.client_id,
                    "client_secret": c.client_secret,
                    "client_use_code": c.client_use_code,
                    "name": c.name,
                    "redirect_uris": c.redirect_uris,
                    "scopes": c.scopes,
                    "self_auth": c.self_auth,
                    "wd_pass_phrase": c.wd_pass_phrase,
                    "contract_accounts": [ca.model_dump() for ca in c.contract_accounts],
                }
                for c in relay.clients.values()
            ],
        }
    )


async def faults(request: Request) -> Response:
    relay = _relay(request)
    expired = 0
    if request.method == "DELETE":
        relay.faults.clear()
    elif request.method == "POST":
        try:
            parsed = _FAULTS.validate_python(await _json(request))
        except ValidationError as error:
            return _bad(str(error))
        for spec in parsed if isinstance(parsed, list) else [parsed]:
            if spec.kind == "expire_tokens":
                expired += relay.tokens.expire_now(
                    relay.now(), user_seq_no=spec.user_seq_no, client_id=spec.client_id
                )
            else:
                relay.faults.add(spec)
    return JSONResponse(
        {"active": [f.as_dict() for f in relay.faults.active], "expired_tokens": expired}
    )


async def transactions(request: Request) -> Response:
    relay = _relay(request)
    try:
        body = TransactionIn.model_validate(await _json(request))
    except ValidationError as error:
        return _bad(str(error))
    account = relay.accounts.get(body.fintech_use_num)
    if account is None:
        return _bad("unknown fintech_use_num", 404)
    at = parse_dtime(body.tran_dtime) if body.tran_dtime else relay.now()
    if at is None:
        return _bad("tran_dtime is not a real yyyyMMddHHmmss instant")
    entry = account.post(
        at=at,
        inout_type=body.inout_type,
        amount=body.tran_amt,
        tran_type=body.tran_type,
        print_content=body.print_content,
        branch_name=body.branch_name,
    )
    return JSONResponse(
        {
            "seq": entry.seq,
            "after_balance_amt": str(entry.after_balance),
            "balance_amt": str(account.balance),
        },
        status_code=201,
    )


async def balances(request: Request) -> Response:
    """Change a balance without any transaction row (a silent reconciliation break)."""
    relay = _relay(request)
    try:
        body = BalanceIn.model_validate(await _json(request))
    except ValidationError as error:
        return _bad(str(error))
    account = relay.accounts.get(body.fintech_use_num)
    if account is None:
        return _bad("unknown fintech_use_num", 404)
    if body.balance_amt is not None:
        account.balance = body.balance_amt
    if body.hold_amt is not None:
        account.hold = body.hold_amt
    return JSONResponse(
        {"balance_amt": str(account.balance), "available_amt": str(account.available)}
    )


async def transfers(request: Request) -> Response:
    relay = _relay(request)
    return JSONResponse(
        {
            "transfers": [
                {
                    "check_type": t.check_type,
                    "bank_tran_id": t.bank_tran_id,
                    "bank_tran_date": t.bank_tran_date,
                    "bank_rsp_code": t.bank_rsp_code,
                    "tran_amt": str(t.tran_amt),
                    "fintech_use_num": t.fintech_use_num,
                    "executed": t.executed,
                }
                for t in relay.transfers.values()
            ]
        }
    )


async def reset(request: Request) -> Response:
    """Rebuild the world from the seed: balances, history, tokens, ids and faults start over."""
    relay = _relay(request)
    request.app.state.relay = Relay.from_seed(relay.seed, relay.clock)
    return JSONResponse({"reset": True})
