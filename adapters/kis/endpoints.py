"""One record per KIS REST endpoint the adapter calls: path, TR ids, paging, where it is documented.

TR ids are the new ones (spec §4.10: KIS warns the old ones may be blocked without notice); the
old ids are kept for reference only. Paper TR = real TR with T/J/C → V; market-data F… TRs are
shared (spec §4.10). Each record cites its portal document id, the section of
`shared/specs/kis-openapi.md` and the date the record was last checked against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from adapters.kis.settings import Env

Method = Literal["GET", "POST"]
VERIFIED = (
    "2026-11-23"  # against shared/specs/kis-openapi.md (XLS workbook 2026-09-11, OTA 885dd4e)
)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A REST operation. `tr_paper` None means the paper host does not offer it."""

    name: str
    method: Method
    path: str
    doc: str
    spec: str
    tr_real: str = ""
    tr_paper: str | None = ""
    old_real: str = ""
    old_paper: str = ""
    paged: bool = False
    page_size: tuple[int, int] = (0, 0)  # (real, paper) rows per page
    hashkey: bool = False  # may carry a `hashkey` header (spec §2.3: optional)
    authorized: bool = True  # sends `authorization: Bearer …`
    verified: str = VERIFIED

    def tr_id(self, env: Env) -> str:
        """The TR id for `env`; ValueError when the endpoint does not exist there."""
        if env == "real":
            return self.tr_real
        if self.tr_paper is None:
            raise ValueError(f"{self.name} is not offered on the paper host (spec {self.spec})")
        return self.tr_paper

    def rows_per_page(self, env: Env) -> int:
        return self.page_size[0] if env == "real" else self.page_size[1]


TOKEN = Endpoint(
    name="token",
    method="POST",
    path="/oauth2/tokenP",
    doc="접근토큰발급(P)",
    spec="§2.1",
    authorized=False,
)
REVOKE = Endpoint(
    name="revoke",
    method="POST",
    path="/oauth2/revokeP",
    doc="접근토큰폐기(P)",
    spec="§2.2",
    authorized=False,
)
HASHKEY = Endpoint(
    name="hashkey",
    method="POST",
    path="/uapi/hashkey",
    doc="Hashkey",
    spec="§2.3",
    authorized=False,
)
APPROVAL = Endpoint(
    name="approval",
    method="POST",
    path="/oauth2/Approval",
    doc="실시간 (웹소켓) 접속키 발급",
    spec="§2.4",
    authorized=False,
)
ORDER_CASH_BUY = Endpoint(
    name="order_cash_buy",
    method="POST",
    path="/uapi/domestic-stock/v1/trading/order-cash",
    doc="v1_국내주식-001",
    spec="§4.1",
    tr_real="TTTC0012U",
    tr_paper="VTTC0012U",
    old_real="TTTC0802U",
    old_paper="VTTC0802U",
    hashkey=True,
)
ORDER_CASH_SELL = Endpoint(
    name="order_cash_sell",
    method="POST",
    path="/uapi/domestic-stock/v1/trading/order-cash",
    doc="v1_국내주식-001",
    spec="§4.1",
    tr_real="TTTC0011U",
    tr_paper="VTTC0011U",
    old_real="TTTC0801U",
    old_paper="VTTC0801U",
    hashkey=True,
)
ORDER_RVSECNCL = Endpoint(
    name="order_rvsecncl",
    method="POST",
    path="/uapi/domestic-stock/v1/trading/order-rvsecncl",
    doc="v1_국내주식-003",
    spec="§4.2",
    tr_real="TTTC0013U",
    tr_paper="VTTC0013U",
    old_real="TTTC0803U",
    old_paper="VTTC0803U",
    hashkey=True,
)
BALANCE = Endpoint(
    name="inquire_balance",
    method="GET",
    path="/uapi/domestic-stock/v1/trading/inquire-balance",
    doc="v1_국내주식-006",
    spec="§4.3",
    tr_real="TTTC8434R",
    tr_paper="VTTC8434R",
    paged=True,
    page_size=(50, 20),
)
DAILY_CCLD = Endpoint(
    name="inquire_daily_ccld",
    method="GET",
    path="/uapi/domestic-stock/v1/trading/inquire-daily-ccld",
    doc="v1_국내주식-005",
    spec="§4.4",
    tr_real="TTTC0081R",
    tr_paper="VTTC0081R",
    old_real="TTTC8001R",
    old_paper="VTTC8001R",
    paged=True,
    page_size=(100, 15),
)
# The same inquiry for periods older than 3 months (spec §4.4).
DAILY_CCLD_OLD = Endpoint(
    name="inquire_daily_ccld_old",
    method="GET",
    path="/uapi/domestic-stock/v1/trading/inquire-daily-ccld",
    doc="v1_국내주식-005",
    spec="§4.4",
    tr_real="CTSC9215R",
    tr_paper="VTSC9215R",
    old_real="CTSC9115R",
    old_paper="VTSC9115R",
    paged=True,
    page_size=(100, 15),
)
PSBL_ORDER = Endpoint(
    name="inquire_psbl_order",
    method="GET",
    path="/uapi/domestic-stock/v1/trading/inquire-psbl-order",
    doc="v1_국내주식-007",
    spec="§4.5",
    tr_real="TTTC8908R",
    tr_paper="VTTC8908R",
)
PRICE = Endpoint(
    name="inquire_price",
    method="GET",
    path="/uapi/domestic-stock/v1/quotations/inquire-price",
    doc="v1_국내주식-008",
    spec="§4.8",
    tr_real="FHKST01010100",
    tr_paper="FHKST01010100",
)

ALL: tuple[Endpoint, ...] = (
    TOKEN,
    REVOKE,
    HASHKEY,
    APPROVAL,
    ORDER_CASH_BUY,
    ORDER_CASH_SELL,
    ORDER_RVSECNCL,
    BALANCE,
    DAILY_CCLD,
    DAILY_CCLD_OLD,
    PSBL_ORDER,
    PRICE,
)
