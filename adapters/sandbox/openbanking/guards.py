"""Checks every resource call goes through, in the relay's order: bearer token (§1.7: missing
header O0001 [992], unknown/revoked O0002, expired O0003), scope (O0011, §10), request format
(A0004 with the field in brackets, §3.3/§7.4), then the per-day ``bank_tran_id`` register (A0326).

``bank_tran_id`` rules (§4): 20 chars ``^[A-Z0-9]{10}U[A-Z0-9]{9}$`` whose first 10 are the calling
이용기관's ``client_use_code``; a foreign prefix is a format error (A0004, confirmed live [PROBE]).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from starlette.requests import Request

from . import codes
from .envelope import RelayError
from .formats import (
    BANK_TRAN_ID_RE,
    FINTECH_USE_NUM_RE,
    parse_amount,
    parse_date,
    parse_dtime,
    parse_time,
)
from .ledger import Account
from .seed import ClientSeed
from .state import Relay
from .tokens import IssuedToken


@dataclass(frozen=True)
class Caller:
    token: IssuedToken
    client: ClientSeed

    @property
    def user_seq_no(self) -> str | None:
        return self.token.user_seq_no


def authorize_call(request: Request, relay: Relay, scope: str) -> Caller:
    header = request.headers.get("authorization", "")
    # "Bearer" + token with no space is a known client bug (§8.11); it is not a bearer header.
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise RelayError(codes.O_AUTH_REJECTED, codes.SUB_MISSING_BEARER)
    token = relay.tokens.verify(credentials.strip(), relay.now())
    if scope not in token.scopes:
        raise RelayError(codes.O_SCOPE_NOT_ALLOWED)
    client = relay.clients.get(token.client_id)
    if client is None:  # the seed was reset under a live token
        raise RelayError(codes.O_TOKEN_REJECTED)
    return Caller(token=token, client=client)


def format_error(field: str) -> RelayError:
    return RelayError(codes.A_FORMAT_ERROR, field)


class Fields:
    """Request parameters (query string or JSON body) validated one at a time into A0004."""

    def __init__(self, source: Mapping[str, Any], request: Request, prefix: str = "") -> None:
        self._source = source
        self._request = request
        self._prefix = prefix
        bank_tran_id = source.get("bank_tran_id")
        if not prefix and isinstance(bank_tran_id, str):
            # Remembered so the app can echo it on errors, as the relay's A0004 example does.
            request.state.bank_tran_id = bank_tran_id

    @classmethod
    def from_query(cls, request: Request) -> Fields:
        for name in request.query_params:
            if len(request.query_params.getlist(name)) > 1:
                raise format_error(name)
        return cls(dict(request.query_params), request)

    @classmethod
    async def from_json(cls, request: Request) -> Fields:
        # Form-encoded transfer POSTs are a classic tutorial bug (§8.9): the relay wants JSON.
        if not request.headers.get("content-type", "").lower().startswith("application/json"):
            raise format_error("Content-Type")
        try:
            body = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            raise format_error("JSON") from None
        if not isinstance(body, dict):
            raise format_error("JSON")
        return cls(body, request)

    def nested(self, item: Mapping[str, Any], name: str) -> Fields:
        return Fields(item, self._request, prefix=f"{name}.")

    def _error(self, name: str) -> RelayError:
        return format_error(self._prefix + name)

    def has(self, name: str) -> bool:
        return name in self._source

    def text(
        self,
        name: str,
        *,
        required: bool = True,
        pattern: re.Pattern[str] | None = None,
        choices: frozenset[str] | None = None,
        max_len: int | None = None,
    ) -> str:
        """A string field; absent optional ones read as ``""``; JSON numbers are rejected (§8.7)."""
        value = self._source.get(name)
        if value is None:
            if required:
                raise self._error(name)
            return ""
        if not isinstance(value, str):
            raise self._error(name)
        if required and value == "":
            raise self._error(name)
        if value == "":
            return value
        if max_len is not None and len(value) > max_len:
            raise self._error(name)
        if pattern is not None and not pattern.fullmatch(value):
            raise self._error(name)
        if choices is not None and value not in choices:
            raise self._error(name)
        return value

    def amount(self, name: str) -> int:
        value = parse_amount(self.text(name))
        if value is None or value <= 0:
            raise self._error(name)
        return value

    def date(self, name: str) -> date:
        value = parse_date(self.text(name))
        if value is None:
            raise self._error(name)
        return value

    def time(self, name: str) -> time:
        value = parse_time(self.text(name))
        if value is None:
            raise self._error(name)
        return value

    def fintech_use_num(self, name: str = "fintech_use_num") -> str:
        return self.text(name, pattern=FINTECH_USE_NUM_RE)

    def items(self, name: str) -> list[Mapping[str, Any]]:
        value = self._source.get(name)
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self._error(name)
        return value

    def bank_tran_id(self, caller: Caller, name: str = "bank_tran_id") -> str:
        value = self.text(name, pattern=BANK_TRAN_ID_RE)
        if value[:10] != caller.client.client_use_code:
            raise self._error(name)
        return value

    def tran_dtime(self, relay: Relay) -> datetime:
        stamp = parse_dtime(self.text("tran_dtime"))
        if stamp is None:
            raise self._error("tran_dtime")
        tolerance = relay.seed.relay.tran_dtime_tolerance_seconds
        if tolerance is not None and abs((stamp - relay.now()).total_seconds()) > tolerance:
            raise self._error("tran_dtime")
        return stamp

    def yn(self, name: str, *, required: bool = True) -> str:
        return self.text(name, required=required, choices=YN)


YN = frozenset({"Y", "N"})


def claim(relay: Relay, bank_tran_id: str) -> None:
    """Register the id for today (an id is spent once its request is well-formed)."""
    if not relay.claim_bank_tran_id(bank_tran_id):
        raise RelayError(codes.A_DUPLICATE_BANK_TRAN_ID)


def user_account(relay: Relay, caller: Caller, fintech_use_num: str) -> Account:
    """The caller's own registered account, or the relay's mismatch/unregistered codes."""
    account = relay.accounts.get(fintech_use_num)
    if account is None or account.user_seq_no != caller.user_seq_no:
        raise RelayError(codes.A_FINTECH_NUM_MISMATCH)
    if not account.active:
        raise RelayError(codes.A_ACCOUNT_NOT_REGISTERED)
    return account


def user_seq_no_param(fields: Fields, caller: Caller) -> str:
    value = fields.text("user_seq_no", pattern=re.compile(r"[0-9]{10}"))
    if value != caller.user_seq_no:
        raise RelayError(codes.A_USER_MISMATCH)
    return value
