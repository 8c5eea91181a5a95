"""One record per Kiwoom TR the adapter calls: api-id, path, budget, paging (digest §2.3).

Every call is `POST` with the `api-id` header; one path serves many TRs, and the wrong pairing
answers 1504, so the pairing lives here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Budget = Literal["query", "order", "none"]


@dataclass(frozen=True, slots=True)
class Tr:
    api_id: str
    path: str
    name: str
    budget: Budget = "query"
    rows: str = ""  # the list field of a paged TR


TOKEN = Tr("au10001", "/oauth2/token", "token", budget="none")
REVOKE = Tr("au10002", "/oauth2/revoke", "revoke", budget="none")
ACCOUNT_NUMBER = Tr("ka00001", "/api/dostk/acnt", "account_number")
BUY = Tr("kt10000", "/api/dostk/ordr", "buy", budget="order")
SELL = Tr("kt10001", "/api/dostk/ordr", "sell", budget="order")
MODIFY = Tr("kt10002", "/api/dostk/ordr", "modify", budget="order")
CANCEL = Tr("kt10003", "/api/dostk/ordr", "cancel", budget="order")
BALANCE = Tr("kt00018", "/api/dostk/acnt", "balance", rows="acnt_evlt_remn_indv_tot")
BUYING_POWER = Tr("kt00010", "/api/dostk/acnt", "buying_power")
OPEN_ORDERS = Tr("ka10075", "/api/dostk/acnt", "open_orders", rows="oso")
FILLS = Tr("ka10076", "/api/dostk/acnt", "fills", rows="cntr")
HISTORY = Tr("kt00007", "/api/dostk/acnt", "order_history", rows="acnt_ord_cntr_prps_dtl")
PRICE = Tr("ka10001", "/api/dostk/stkinfo", "price")
MULTI_QUOTE = Tr("ka10095", "/api/dostk/stkinfo", "multi_quote", rows="atn_stk_infr")
MULTI_QUOTE_MAX = 100  # digest §2.3 (KW-OBS): 110 codes gave [1634]

ALL: tuple[Tr, ...] = (
    TOKEN,
    REVOKE,
    ACCOUNT_NUMBER,
    BUY,
    SELL,
    MODIFY,
    CANCEL,
    BALANCE,
    BUYING_POWER,
    OPEN_ORDERS,
    FILLS,
    HISTORY,
    PRICE,
    MULTI_QUOTE,
)
