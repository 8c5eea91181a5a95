"""A minimal KIS client for the sandbox tests, written from the spec like any real client."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from adapters.sandbox.kis.broker import Broker

TRADING = "/uapi/domestic-stock/v1/trading"
PRICE = "/uapi/domestic-stock/v1/quotations/inquire-price"


def tr(env: str, real_tr: str) -> str:
    """The paper TR id is the real one with its first letter turned into V (spec §4.10)."""
    return real_tr if env == "real" else "V" + real_tr[1:]


class Kis:
    """Talks to one sandbox app as a client of the real API would."""

    def __init__(self, http: httpx.AsyncClient, broker: Broker) -> None:
        self.http = http
        self.broker = broker
        self.env = broker.env
        app = next(iter(broker.apps.values()))
        self.appkey, self.appsecret = app.appkey, app.appsecret
        self.cano, self.prdt = app.accounts[0].split("-")
        self.access_token = ""
        # Paper admits one request per second; stepping the frozen clock keeps tests under it.
        self.pace = 1.0 if self.env == "paper" else 0.0

    async def issue_token(self) -> httpx.Response:
        return await self.http.post(
            "/oauth2/tokenP",
            json={
                "grant_type": "client_credentials",
                "appkey": self.appkey,
                "appsecret": self.appsecret,
            },
        )

    async def login(self) -> str:
        response = await self.issue_token()
        assert response.status_code == 200, response.text
        self.access_token = response.json()["access_token"]
        return self.access_token

    def headers(self, tr_id: str, **extra: str) -> dict[str, str]:
        return {
            "content-type": "application/json; charset=utf-8",
            "authorization": f"Bearer {self.access_token}",
            "appkey": self.appkey,
            "appsecret": self.appsecret,
            "tr_id": tr_id,
            "custtype": "P",
            **extra,
        }

    async def get(
        self, path: str, tr_id: str, params: Mapping[str, str], **headers: str
    ) -> httpx.Response:
        self.broker.clock.advance(self.pace)
        return await self.http.get(path, params=params, headers=self.headers(tr_id, **headers))

    async def post(self, path: str, tr_id: str, body: Mapping[str, Any]) -> httpx.Response:
        self.broker.clock.advance(self.pace)
        return await self.http.post(path, json=body, headers=self.headers(tr_id))

    def account(self) -> dict[str, str]:
        return {"CANO": self.cano, "ACNT_PRDT_CD": self.prdt}

    async def order(
        self,
        side: str = "buy",
        pdno: str = "005930",
        qty: int = 1,
        price: int = 0,
        dvsn: str = "01",
        *,
        tr_id: str | None = None,
        **fields: str,
    ) -> httpx.Response:
        real_tr = "TTTC0012U" if side == "buy" else "TTTC0011U"
        body = {
            **self.account(),
            "PDNO": pdno,
            "ORD_DVSN": dvsn,
            "ORD_QTY": str(qty),
            "ORD_UNPR": str(price),
            "EXCG_ID_DVSN_CD": "KRX",
            **fields,
        }
        return await self.post(f"{TRADING}/order-cash", tr_id or tr(self.env, real_tr), body)

    async def amend(
        self,
        reply: Mapping[str, Any],
        *,
        action: str = "02",
        qty: int = 0,
        price: int = 0,
        all_qty: str = "Y",
        dvsn: str = "00",
    ) -> httpx.Response:
        output = reply["output"]
        body = {
            **self.account(),
            "KRX_FWDG_ORD_ORGNO": output["KRX_FWDG_ORD_ORGNO"],
            "ORGN_ODNO": output["ODNO"],
            "ORD_DVSN": dvsn,
            "RVSE_CNCL_DVSN_CD": action,
            "ORD_QTY": str(qty),
            "ORD_UNPR": str(price),
            "QTY_ALL_ORD_YN": all_qty,
        }
        return await self.post(f"{TRADING}/order-rvsecncl", tr(self.env, "TTTC0013U"), body)

    async def balance(self, tr_cont: str = "", fk: str = "", nk: str = "") -> httpx.Response:
        params = {
            **self.account(),
            "AFHR_FLPR_YN": "N",
            "OFL_YN": "",
            "INQR_DVSN": "01",
            "UNPR_DVSN": "01",
            "FUND_STTL_ICLD_YN": "N",
            "FNCG_AMT_AUTO_RDPT_YN": "N",
            "PRCS_DVSN": "00",
            "CTX_AREA_FK100": fk,
            "CTX_AREA_NK100": nk,
        }
        return await self.get(
            f"{TRADING}/inquire-balance", tr(self.env, "TTTC8434R"), params, tr_cont=tr_cont
        )

    async def daily_ccld(
        self, day: str = "20260312", tr_cont: str = "", fk: str = "", nk: str = "", **over: str
    ) -> httpx.Response:
        params = {
            **self.account(),
            "INQR_STRT_DT": day,
            "INQR_END_DT": day,
            "SLL_BUY_DVSN_CD": "00",
            "INQR_DVSN": "01",
            "PDNO": "",
            "CCLD_DVSN": "00",
            "ORD_GNO_BRNO": "",
            "ODNO": "",
            "INQR_DVSN_3": "00",
            "INQR_DVSN_1": "",
            "EXCG_ID_DVSN_CD": "KRX",
            "CTX_AREA_FK100": fk,
            "CTX_AREA_NK100": nk,
            **over,
        }
        return await self.get(
            f"{TRADING}/inquire-daily-ccld", tr(self.env, "TTTC0081R"), params, tr_cont=tr_cont
        )

    async def psbl_order(self, pdno: str = "", price: int = 0, dvsn: str = "00") -> httpx.Response:
        params = {
            **self.account(),
            "PDNO": pdno,
            "ORD_UNPR": str(price) if price else "",
            "ORD_DVSN": dvsn,
            "CMA_EVLU_AMT_ICLD_YN": "N",
            "OVRS_ICLD_YN": "N",
        }
        return await self.get(f"{TRADING}/inquire-psbl-order", tr(self.env, "TTTC8908R"), params)

    async def price(self, pdno: str = "005930") -> httpx.Response:
        params = {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": pdno}
        return await self.get(PRICE, "FHKST01010100", params)

    async def all_pages(self, fetch: str, rows_key: str = "output1") -> tuple[list[Any], list[str]]:
        """Every row of a paged inquiry, following tr_cont F/M until D/E (spec §4.9)."""
        rows: list[Any] = []
        letters: list[str] = []
        tr_cont, fk, nk = "", "", ""
        while True:
            response = await getattr(self, fetch)(tr_cont=tr_cont, fk=fk, nk=nk)
            body = response.json()
            assert body["rt_cd"] == "0", body
            rows += body[rows_key]
            letters.append(response.headers["tr_cont"])
            if response.headers["tr_cont"] in ("D", "E"):
                return rows, letters
            tr_cont, fk, nk = "N", body["ctx_area_fk100"], body["ctx_area_nk100"]
