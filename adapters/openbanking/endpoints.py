"""One record per KFTC Open Banking v2.0 endpoint the adapter calls.

Each cites its section of `shared/specs/kftc-openbanking.md` (the research digest of the public
spec, developers.kftc.or.kr pages and client code) and the date the record was checked against it.
`/fin_num` inquiries are GET with a query string, everything else POST (spec §0 "method gotcha":
a wrong method answers O0010).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Method = Literal["GET", "POST"]
Token = Literal["none", "user", "oob"]
VERIFIED = "2026-11-24"  # against shared/specs/kftc-openbanking.md


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A relay operation.

    `stamped`: the query carries `bank_tran_id` + `tran_dtime`, set afresh on every attempt
    (spec §3.4: inquiries retry with a fresh id). `write`: it moves money; sent once, never
    retried with a new id. `circuit`: the breaker it shares (transfers apart from reads).
    """

    name: str
    method: Method
    path: str
    spec: str
    token: Token
    scope: str = ""
    stamped: bool = False
    write: bool = False
    circuit: str | None = None
    verified: str = VERIFIED


AUTHORIZE = Endpoint("authorize", "GET", "/oauth/2.0/authorize", "§1.1", "none")
TOKEN = Endpoint("token", "POST", "/oauth/2.0/token", "§1.3-§1.5", "none")
REVOKE = Endpoint("revoke", "POST", "/oauth/2.0/revoke", "§1.6", "none")
ACCOUNT_LIST = Endpoint("account_list", "GET", "/v2.0/account/list", "§2.2", "user", "login")
BALANCE = Endpoint(
    "balance", "GET", "/v2.0/account/balance/fin_num", "§2.3", "user", "inquiry", stamped=True
)
TRANSACTIONS = Endpoint(
    "transaction_list",
    "GET",
    "/v2.0/account/transaction_list/fin_num",
    "§2.4, §7.3",
    "user",
    "inquiry",
    stamped=True,
)
DEPOSIT = Endpoint(
    "deposit",
    "POST",
    "/v2.0/transfer/deposit/fin_num",
    "§2.6",
    "oob",
    "oob",
    write=True,
    circuit="openbanking:transfer",
)
TRANSFER_RESULT = Endpoint(
    "transfer_result",
    "POST",
    "/v2.0/transfer/result",
    "§2.7, §3.4",
    "oob",
    "oob",
    circuit="openbanking:transfer",
)

# Ending access (§2.11, §2.12): the user's token, JSON bodies. Not `write` (no money moves).
ACCOUNT_CANCEL = Endpoint(
    "account_cancel", "POST", "/v2.0/account/cancel", "§2.11", "user", "login"
)
USER_CLOSE = Endpoint("user_close", "POST", "/v2.0/user/close", "§2.12", "user", "login")
# 어카운트인포 (§2.13): every account the user holds anywhere; `sa` (self-auth clients only).
ACCOUNTINFO_LIST = Endpoint(
    "accountinfo_list", "POST", "/v2.0/accountinfo/list", "§2.13", "oob", "sa"
)

ALL = (
    AUTHORIZE,
    TOKEN,
    REVOKE,
    ACCOUNT_LIST,
    BALANCE,
    TRANSACTIONS,
    DEPOSIT,
    TRANSFER_RESULT,
    ACCOUNT_CANCEL,
    USER_CLOSE,
    ACCOUNTINFO_LIST,
)
