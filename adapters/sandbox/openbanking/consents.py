"""Ending access the relay's way: account/cancel (§2.11) and user/close (§2.12), plus the
sandbox-only lever that revokes a user's consent behind the client's back.

- ``account/cancel`` cancels one service (``inquiry`` or ``transfer``) of one registration; once
  neither is left the registration is cancelled (``account_state`` 09). Cancelling what is
  already cancelled answers A0002 with ``bank_rsp_code`` 551, which clients treat as done (§2.11).
- ``user/close`` (user token, ``client_use_code`` + ``user_seq_no``) cancels every registration of
  the user and revokes every token the client holds for them; closing again answers ``A0014``.
- A new consent (authorize) registers the user's accounts again (``reregister``).
- ``POST /_sandbox/users/{ref}/revoke``: the user withdrew consent at the relay (or the relay
  dropped it): every token of theirs dies, access and refresh, without the client being told.
- ``POST /_sandbox/users``: many users, each with accounts at several institutions.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from . import codes
from .codes import institution_name
from .envelope import BankPart, RelayError, api_part, relay_json, success
from .formats import fmt_dtime
from .guards import Fields, authorize_call, claim
from .seed import AccountSeed, UserSeed
from .state import Relay, account_of

CANCEL_SCOPES = frozenset({"inquiry", "transfer"})
BANK_ALREADY_CANCELLED = "551"  # §2.11: "already cancelled user", treated as done
A_USER_CLOSED = "A0014"  # §3.3: withdrawn member; for user/close "already done"
_USER_SEQ = re.compile(r"[0-9]{10}")


async def account_cancel(request: Request, relay: Relay) -> Response:
    caller = authorize_call(request, relay, "login")
    fields = await Fields.from_json(request)
    bank_tran_id = fields.bank_tran_id(caller)
    scope = fields.text("scope", choices=CANCEL_SCOPES)
    fintech_use_num = fields.fintech_use_num()
    claim(relay, bank_tran_id)
    account = relay.accounts.get(fintech_use_num)
    if account is None or account.user_seq_no != caller.user_seq_no:
        raise RelayError(codes.A_FINTECH_NUM_MISMATCH)
    agreed = account.inquiry_agreed if scope == "inquiry" else account.transfer_agreed
    if not account.active or not agreed:
        part = BankPart.answer(
            bank_tran_id, relay.now(), account.bank_code_std, BANK_ALREADY_CANCELLED
        )
        raise RelayError(codes.A_BANK_ERROR, bank=part)
    if scope == "inquiry":
        account.inquiry_agree_dtime = ""
    else:
        account.transfer_agree_dtime = None
    if not account.inquiry_agreed and not account.transfer_agreed:
        account.account_state = "09"
    bank = BankPart.answer(bank_tran_id, relay.now(), account.bank_code_std, codes.BANK_OK)
    return success(relay.now(), {"fintech_use_num": fintech_use_num, "scope": scope}, bank)


async def user_close(request: Request, relay: Relay) -> Response:
    caller = authorize_call(request, relay, "login")
    fields = await Fields.from_json(request)
    client_use_code = fields.text("client_use_code", pattern=re.compile(r"[A-Z0-9]{10}"))
    user_seq_no = fields.text("user_seq_no", pattern=_USER_SEQ)
    if client_use_code != caller.client.client_use_code or user_seq_no != caller.user_seq_no:
        raise RelayError(codes.A_USER_MISMATCH)
    if user_seq_no in relay.closed_users:
        raise RelayError(A_USER_CLOSED, message="탈퇴 회원")
    close_user(relay, user_seq_no, client_id=caller.client.client_id)
    return relay_json(api_part(relay.now()))


def close_user(relay: Relay, user_seq_no: str, *, client_id: str | None) -> int:
    """Cancel every registration of the user, revoke their tokens; returns tokens revoked."""
    relay.closed_users.add(user_seq_no)
    for account in relay.accounts_of(user_seq_no):
        account.inquiry_agree_dtime = ""
        account.transfer_agree_dtime = None
        account.account_state = "09"
    return revoke_user_tokens(relay, user_seq_no, client_id=client_id)


def revoke_user_tokens(relay: Relay, user_seq_no: str, *, client_id: str | None = None) -> int:
    revoked = 0
    for token in list(relay.tokens.by_jti.values()):
        if token.revoked or token.user_seq_no != user_seq_no:
            continue
        if client_id is not None and token.client_id != client_id:
            continue
        relay.tokens.revoke(token)
        revoked += 1
    return revoked


def reregister(relay: Relay, user_seq_no: str) -> None:
    """A new consent registers the user's accounts again (inquiry; transfer as seeded)."""
    relay.closed_users.discard(user_seq_no)
    seeded = {a.fintech_use_num: a for u in relay.seed.users for a in u.accounts}
    stamp = fmt_dtime(relay.now())
    for account in relay.accounts_of(user_seq_no):
        if account.active:
            continue
        seed = seeded.get(account.fintech_use_num)
        if seed is not None and seed.account_state != "01":
            continue  # seeded as cancelled: stays so
        account.account_state = "01"
        account.inquiry_agree_dtime = stamp
        if seed is not None and seed.transfer_agree_dtime:
            account.transfer_agree_dtime = stamp


async def revoke_behind_the_back(request: Request) -> Response:
    """Sandbox control: the user's consent ends at the relay; the client is not told."""
    relay: Relay = request.app.state.relay
    ref = request.path_params["ref"]
    user = relay.user_by_ref(ref)
    if user is None:
        return JSONResponse({"error": f"unknown user {ref}"}, status_code=404)
    revoked = revoke_user_tokens(relay, user.user_seq_no)
    return JSONResponse({"user_seq_no": user.user_seq_no, "tokens_revoked": revoked})


class NewUsers(BaseModel):
    """`count` users, each holding one account at every institution listed (KFTC codes)."""

    model_config = ConfigDict(extra="forbid")

    count: int = Field(default=1, ge=1, le=10_000)
    institutions: tuple[str, ...] = Field(default=("240", "243"), min_length=1, max_length=20)
    balance_amt: int = Field(default=1_000_000, ge=0)
    history_count: int = Field(default=10, ge=0, le=200)


async def add_users(request: Request) -> Response:
    """Sandbox control: POST /_sandbox/users makes users with accounts at several institutions
    (ids `user00001`…, user_seq_no `12xxxxxxxx`); they appear on the consent page and in
    account/list once they consent. `POST /_sandbox/reset` returns to the seed."""
    relay: Relay = request.app.state.relay
    try:
        wanted = NewUsers.model_validate(await request.json())
    except (ValueError, ValidationError) as error:
        return JSONResponse({"error": str(error)}, status_code=400)
    if any(not re.fullmatch(r"[0-9]{3}", code) for code in wanted.institutions):
        return JSONResponse({"error": "institutions: 3-digit KFTC codes"}, status_code=400)
    now = relay.now()
    stamp = fmt_dtime(now)
    made = []
    n = len(relay.users)
    for _ in range(wanted.count):
        n += 1
        while f"12{n:08d}" in relay.users:
            n += 1
        seq = f"12{n:08d}"
        user = UserSeed(
            id=f"user{n:05d}",
            user_seq_no=seq,
            user_name=f"샌드박스{n:05d}",
            user_ci=f"SANDBOX-CI-{n:010d}",
            accounts=[
                AccountSeed(
                    fintech_use_num=f"12026{n:010d}{code}{i:06d}",
                    bank_code_std=code,
                    account_num=f"{code}{n:08d}{i:02d}",
                    account_alias=f"{institution_name(code)} {i}",
                    account_type="T" if code.startswith("2") else "1",
                    account_issue_date=now.strftime("%Y%m%d"),
                    balance_amt=wanted.balance_amt,
                    inquiry_agree_dtime=stamp,
                    history={"seed": n * 100 + i, "count": wanted.history_count, "days": 30},
                )
                for i, code in enumerate(wanted.institutions, start=1)
            ],
        )
        relay.users[seq] = user
        for seed in user.accounts:
            relay.accounts[seed.fintech_use_num] = account_of(user, seed, now)
        made.append({"id": user.id, "user_seq_no": seq, "accounts": len(user.accounts)})
    return JSONResponse({"users": made}, status_code=201)
