"""The open-banking adapter wired to the sandbox relay in-process, on a fake shared clock.

One `FakeClock` drives everything: the sandbox's KST clock (tran_dtime must be within 600 s of
it), our UTC Clock, the limiter's timer and every sleep (backoff, rate-limit waits), so no test
really sleeps. The database is a fresh SQLite file unless a test asks for the `db` fixture.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from starlette.applications import Starlette

from adapters.db.engine import Database
from adapters.db.openbanking import DbOpenBankingStores, build_openbanking_stores
from adapters.db.secrets import TokenCipher
from adapters.fake import FakeClock
from adapters.http import InProcessTransport, Resilience, ResilienceSettings, build_resilience
from adapters.openbanking import (
    OpenBanking,
    OpenBankingSettings,
    build_openbanking,
    openbanking_http_client,
)
from adapters.sandbox.openbanking import Relay, create_app
from orchestrator.domain.model import AccountKind, AccountRef, Institution
from orchestrator.domain.timeutil import KST
from tests.support.databases import fresh_database

BASE_URL = "https://testapi.openbanking.or.kr"
CLIENT_ID = "sandbox-demo-client-id"
CLIENT_SECRET = "sandbox-demo-client-secret-NOT-REAL"
USE_CODE = "T990000001"
REDIRECT = "http://127.0.0.1:8000/openbanking/callback"
USER = "demo"
DEMO_SEQ = "1100000001"
START = datetime(2026, 3, 10, 10, 0, 0, tzinfo=KST)

CMA = "120260101000000000240001"  # Samsung CMA, 60 rows, transfer consent
CMA25 = "120260101000000000240002"  # Samsung, 25 rows
CMA26 = "120260101000000000240003"  # Samsung, 26 rows
EMPTY = "120260101000000000240004"  # Samsung, no rows
KIS_ACC = "120260101000000000243005"  # 한국투자증권: not reported by this source
BANK = "120260101000000000088006"  # 신한은행: not reported
CANCELLED = "120260101000000000240007"  # Samsung, cancelled registration
ACCIDENT = "120260101000000000240008"  # Samsung, participant always answers 419
OTHER_CMA = "120260101000000000240009"  # the other user's
CMA_BALANCE = 15_234_870
ROWS = {CMA: 60, CMA25: 25, CMA26: 26, EMPTY: 0}
HISTORY_FIRST = date(2026, 1, 9)  # 60 days ending 2026-03-09
HISTORY_LAST = date(2026, 3, 9)


class RecordingTransport(InProcessTransport):
    """The in-process transport, remembering every request that reached the sandbox."""

    def __init__(self, app: Starlette) -> None:
        super().__init__(app=app)
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return await super().handle_async_request(request)

    def to(self, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == path]


def _account(fin: str, bank: str, number: str, count: int, **extra: Any) -> dict[str, Any]:
    return {
        "fintech_use_num": fin,
        "bank_code_std": bank,
        "account_num": number,
        "account_type": "T" if bank.startswith("2") else "1",
        "account_issue_date": "20210412",
        "balance_amt": extra.pop("balance_amt", 1_000_000),
        "inquiry_agree_dtime": extra.pop("inquiry_agree_dtime", "20260101120000"),
        "history": {"seed": int(fin[-3:]), "count": count, "days": 60, "end_date": "20260309"},
        **extra,
    }


def make_seed() -> dict[str, Any]:
    contract = {"cntr_account_type": "N", "bank_code_std": "097", "holder_name": "샌드박스데모"}
    return {
        "clients": [
            {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "client_use_code": USE_CODE,
                "name": "테스트 이용기관",
                "redirect_uris": [REDIRECT],
                "scopes": ["login", "inquiry", "transfer", "oob"],
                "contract_accounts": [
                    {"kind": "deposit", "cntr_account_num": "1002990000001", **contract}
                ],
                "limits": {"deposit_per_tran": 10_000_000, "deposit_daily": 50_000_000},
            }
        ],
        "users": [
            {
                "id": USER,
                "user_seq_no": DEMO_SEQ,
                "user_name": "김데모",
                "user_ci": "CI-DEMO-FAKE",
                "accounts": [
                    _account(
                        CMA,
                        "240",
                        "71001234567801",
                        ROWS[CMA],
                        balance_amt=CMA_BALANCE,
                        account_alias="삼성증권 CMA",
                        product_name="CMA(RP형)",
                        transfer_agree_dtime="20260102090000",
                    ),
                    _account(CMA25, "240", "71001234567802", ROWS[CMA25]),
                    _account(CMA26, "240", "71001234567803", ROWS[CMA26]),
                    _account(EMPTY, "240", "71001234567804", ROWS[EMPTY]),
                    _account(KIS_ACC, "243", "6401234501", 3),
                    _account(BANK, "088", "110123456789", 3),
                    _account(CANCELLED, "240", "71001234567807", 3, account_state="09"),
                    _account(ACCIDENT, "240", "71001234567808", 2, bank_rsp_code="419"),
                ],
            },
            {
                "id": "other",
                "user_seq_no": "1100000002",
                "user_name": "이타인",
                "user_ci": "CI-OTHER-FAKE",
                "accounts": [_account(OTHER_CMA, "240", "71009999999901", 5)],
            },
        ],
    }


def make_settings(**overrides: Any) -> OpenBankingSettings:
    data: dict[str, Any] = {
        "base_url": BASE_URL,
        "client_id": f"literal:{CLIENT_ID}",
        "client_secret": f"literal:{CLIENT_SECRET}",
        "client_use_code": USE_CODE,
        "redirect_uri": REDIRECT,
        "scope": "login inquiry transfer",
        "transfers": {
            "enabled": True,
            "per_transfer_limit": 2_000_000,
            "daily_limit": 3_000_000,
            "target_fintech_use_num": CMA,
            "target_user_id": USER,
            "cntr_account_num": "1002990000001",
            "wd_pass_phrase": "literal:NONE",
            "req_client_name": "김데모",
            "req_client_num": "DEMO",
        },
    }
    data.update(overrides)
    return OpenBankingSettings.model_validate(data)


def account_ref(fintech_use_num: str, user_id: str = USER) -> AccountRef:
    return AccountRef(
        user_id=user_id,
        account_id=f"test-{fintech_use_num[-3:]}",
        institution=Institution.SAMSUNG_SECURITIES,
        kind=AccountKind.CMA,
        external_ref=fintech_use_num,
    )


def cipher() -> TokenCipher:
    return TokenCipher([SecretStr(Fernet.generate_key().decode())])


def make_resilience(time: FakeClock, **settings: Any) -> Resilience:
    return build_resilience(
        ResilienceSettings(
            backoff_jitter_seconds=0.0, max_wait_seconds=settings.pop("max_wait_seconds", 120.0),
            **settings,
        ),
        registry=CollectorRegistry(),
        clock=time,
        sleep=time.sleep,
        limiter_timer=time,
    )  # fmt: skip


@dataclass
class Harness:
    """Everything one test needs: the sandbox app and state, the adapter, its stores."""

    app: Starlette
    time: FakeClock
    transport: RecordingTransport
    http: httpx.AsyncClient
    resilience: Resilience
    settings: OpenBankingSettings
    db: Database
    stores: DbOpenBankingStores
    ob: OpenBanking
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def relay(self) -> Relay:
        relay: Relay = self.app.state.relay
        return relay

    async def sandbox(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Drive the sandbox control API (/_sandbox/*) directly."""
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app)) as control:
            return await control.request(method, f"{BASE_URL}{path}", **kwargs)

    async def fault(self, **rule: Any) -> None:
        response = await self.sandbox("POST", "/_sandbox/faults", json=rule)
        assert response.status_code == 200, response.text

    async def consent(self) -> None:
        assert await self.ob.consent.provision_sandbox_consent(USER)

    def rebuild(
        self, settings: OpenBankingSettings | None = None, **resilience: Any
    ) -> OpenBanking:
        """The adapter again with other settings, or over a layer with other resilience."""
        self.settings = settings or self.settings
        if resilience:
            self.resilience = make_resilience(self.time, **resilience)
        self.ob = build_openbanking(
            self.settings, self.resilience, self.stores, self.http, clock=self.time
        )
        return self.ob


@pytest.fixture
def fake_time() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
async def harness(tmp_path: Path, fake_time: FakeClock) -> AsyncIterator[Harness]:
    """The adapter over the in-process sandbox, on SQLite, consent not yet granted."""
    app = create_app(seed=make_seed(), clock=fake_time.now, sleep=fake_time.sleep)
    transport = RecordingTransport(app)
    settings = make_settings()
    resilience = make_resilience(fake_time)
    async with fresh_database("sqlite", tmp_path) as db:
        stores = build_openbanking_stores(db, cipher())
        async with openbanking_http_client(settings, transport=transport) as http:
            ob = build_openbanking(settings, resilience, stores, http, clock=fake_time)
            harness = Harness(app, fake_time, transport, http, resilience, settings, db, stores, ob)
            yield harness
        await resilience.aclose()
        if harness.resilience is not resilience:
            await harness.resilience.aclose()


@pytest.fixture
async def granted(harness: Harness) -> Harness:
    """The harness with the demo user's consent provisioned through the sandbox."""
    await harness.consent()
    return harness
