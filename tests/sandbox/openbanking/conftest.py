"""Shared fixtures: the fake clock at a fixed KST instant, a sleep recorder, a test seed, helpers
that drive OAuth."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.applications import Starlette

from adapters.fake import FakeClock
from adapters.sandbox.openbanking import Relay, create_app
from adapters.sandbox.openbanking.formats import KST

BASE_URL = "https://testapi.openbanking.or.kr"
CLIENT_ID = "test-client"
CLIENT_SECRET = "test-secret"
USE_CODE = "T990000001"
OTHER_CLIENT_ID = "plain-client"
OTHER_SECRET = "plain-secret"
OTHER_USE_CODE = "M202600002"
REDIRECT = "http://127.0.0.1:8000/callback"
DEMO_SEQ = "1100000001"
OTHER_SEQ = "1100000002"
DEMO_CI = "CI-DEMO-FAKE"

CMA = "120260101000000000240001"  # 60 rows, transfer consent
KIS = "120260101000000000243002"  # 26 rows, no transfer consent
BANK25 = "120260101000000000088003"  # 25 rows
EMPTY = "120260101000000000097004"  # 0 rows
CANCELLED = "120260101000000000004005"  # account_state 09
OTHER_CMA = "120260101000000000240006"  # belongs to the other user
ACCIDENT = "120260101000000000081007"  # participant always answers 419
CMA_BALANCE = 15_234_870
START = datetime(2026, 3, 10, 10, 0, 0, tzinfo=KST)


class SleepRecorder:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


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


def make_seed(**relay: Any) -> dict[str, Any]:
    contract = {"cntr_account_type": "N", "bank_code_std": "097", "holder_name": "테스트기관"}
    return {
        "relay": relay,
        "clients": [
            {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "client_use_code": USE_CODE,
                "name": "테스트 이용기관",
                "redirect_uris": [REDIRECT],
                "scopes": ["login", "inquiry", "transfer", "oob", "sa"],
                "self_auth": True,
                "contract_accounts": [
                    {"kind": "deposit", "cntr_account_num": "1002990000001", **contract},
                    {"kind": "withdraw", "cntr_account_num": "1002990000002", **contract},
                ],
                "limits": {"deposit_per_tran": 5_000_000, "deposit_daily": 8_000_000},
            },
            {
                "client_id": OTHER_CLIENT_ID,
                "client_secret": OTHER_SECRET,
                "client_use_code": OTHER_USE_CODE,
                "name": "다른 이용기관",
                "redirect_uris": [REDIRECT],
                "scopes": ["login", "inquiry", "oob"],
            },
        ],
        "users": [
            {
                "id": "demo",
                "user_seq_no": DEMO_SEQ,
                "user_name": "김데모",
                "user_ci": DEMO_CI,
                "ainfo_auth_code": "AINFO-DEMO",
                "limits": {"withdraw_per_tran": 2_000_000, "withdraw_daily": 3_000_000},
                "accounts": [
                    _account(
                        CMA,
                        "240",
                        "71001234567801",
                        60,
                        balance_amt=CMA_BALANCE,
                        account_alias="삼성증권 CMA",
                        product_name="CMA(RP형)",
                        transfer_agree_dtime="20260102090000",
                    ),
                    _account(
                        KIS,
                        "243",
                        "6401234501",
                        26,
                        balance_amt=3_120_000,
                        inquiry_agree_dtime="20260103090000",
                    ),
                    _account(
                        BANK25, "088", "110123456789", 25, inquiry_agree_dtime="20251201090000"
                    ),
                    _account(EMPTY, "097", "99900011", 0, inquiry_agree_dtime="20251101090000"),
                    _account(CANCELLED, "004", "12340000001", 3, account_state="09"),
                ],
            },
            {
                "id": "other",
                "user_seq_no": OTHER_SEQ,
                "user_name": "이타인",
                "user_ci": "CI-OTHER-FAKE",
                "accounts": [
                    _account(OTHER_CMA, "240", "71009999999901", 5),
                    _account(
                        ACCIDENT,
                        "081",
                        "22200033",
                        2,
                        bank_rsp_code="419",
                        transfer_agree_dtime="20260102090000",
                    ),
                ],
            },
        ],
    }


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def sleeper() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def seed() -> dict[str, Any]:
    return make_seed()


@pytest.fixture
def app(seed: dict[str, Any], clock: FakeClock, sleeper: SleepRecorder) -> Starlette:
    return create_app(seed=seed, clock=clock.now, sleep=sleeper)


@pytest.fixture
def relay(app: Starlette) -> Relay:
    state: Relay = app.state.relay
    return state


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        yield http


@pytest.fixture
def ids() -> Iterator[str]:
    """Fresh, well-formed bank_tran_ids for the test client."""
    return (f"{USE_CODE}U{n:09d}" for n in itertools.count(1))


def dtime(clock: FakeClock) -> str:
    return clock.now().astimezone(KST).strftime("%Y%m%d%H%M%S")


def authorize_params(**overrides: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT,
        "scope": "login inquiry transfer",
        "state": "s" * 32,
        "auth_type": "0",
    }
    params.update(overrides)
    return params


def callback_query(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def auth_code(http: httpx.AsyncClient, user: str = "demo", **overrides: str) -> str:
    params = authorize_params(**overrides, sandbox_auto_consent=user)
    return callback_query(await http.get("/oauth/2.0/authorize", params=params))["code"]


async def token_call(http: httpx.AsyncClient, **form: str) -> dict[str, Any]:
    response = await http.post("/oauth/2.0/token", data=form)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def user_token(
    http: httpx.AsyncClient, scope: str = "login inquiry transfer", user: str = "demo"
) -> dict[str, Any]:
    code = await auth_code(http, user=user, scope=scope)
    return await token_call(
        http,
        grant_type="authorization_code",
        code=code,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uri=REDIRECT,
    )


async def oob_token(http: httpx.AsyncClient, scope: str = "oob") -> dict[str, Any]:
    return await token_call(
        http,
        grant_type="client_credentials",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        scope=scope,
    )


def bearer(token: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {token['access_token']}"}
