"""어카운트인포 계좌통합조회 (spec §2.13): every account the user holds at every institution.

`POST /v2.0/accountinfo/list` with a 2-legged `sa` token (self-auth 이용기관 only, §1.4) and
request variant A (`auth_code` from the 사용자정보확인 step, whose endpoint the digest could not
verify: the operator passes it in). The reply carries real account numbers: they stay here;
callers get the masked number, the product, the balance and the `list_num` to pick. An account
chosen from it is registered by re-running authorize with `accountinfo_yn=Y`,
`accountinfo_api_tran_id` and `accountinfo_list_num` (§1.1), see `OpenBankingConsent.begin`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from pydantic import Field

from adapters.openbanking.auth import OpenBankingOAuth
from adapters.openbanking.client import OpenBankingClient
from adapters.openbanking.endpoints import ACCOUNTINFO_LIST
from adapters.openbanking.errors import boundary
from adapters.openbanking.schemas import Envelope, Vendor
from orchestrator.domain.errors import InvalidRequest

BANK_TYPES = {"bank": "1", "savings": "2", "securities": "4"}
PAGE = 30  # inquiry_record_cnt maximum (§2.13)


class _Item(Vendor):
    list_num: str
    bank_code_std: str = ""
    account_num_masked: str = ""
    account_type: str = ""
    product_name: str = ""
    balance_amt: str = ""
    deposit_amt: str = ""


class _Reply(Envelope):
    ainfo_tran_id: str = ""
    total_record_cnt: str = "0"
    page_record_cnt: str = "0"
    res_list: list[_Item] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class HeldAccount:
    """One account of the 계좌통합조회, as shown (never the full number)."""

    list_num: str
    institution: str
    masked_number: str
    product_name: str
    balance: Decimal | None
    deposit: Decimal | None


@dataclass(frozen=True, slots=True)
class HeldAccounts:
    api_tran_id: str  # what authorize's accountinfo_api_tran_id copies (§1.1)
    accounts: tuple[HeldAccount, ...]


def _amount(text: str) -> Decimal | None:
    try:
        return Decimal(text) if text else None
    except InvalidOperation:
        return None


class AccountInfo:
    def __init__(self, client: OpenBankingClient, oauth: OpenBankingOAuth) -> None:
        self._client = client
        self._oauth = oauth

    async def list(self, auth_code: str, kind: str = "securities") -> HeldAccounts:
        """Every account of the user at institutions of `kind` (bank, savings, securities)."""
        bank_type = BANK_TYPES.get(kind)
        if bank_type is None:
            raise InvalidRequest(f"kind: one of {', '.join(BANK_TYPES)}")
        token = await self._oauth.client_credentials("sa")
        bearer = _Bearer(token.access_token)
        found: list[HeldAccount] = []
        api_tran_id = ""
        trace = 1
        while True:
            body = await self._client.call(
                ACCOUNTINFO_LIST,
                bearer=bearer,
                body={
                    "auth_code": auth_code,
                    "inquiry_bank_type": bank_type,
                    "trace_no": str(trace),
                    "inquiry_record_cnt": str(PAGE),
                },
            )
            with boundary(self._client.source):
                reply = _Reply.model_validate(body)
                total = int(reply.total_record_cnt or 0)
                count = int(reply.page_record_cnt or 0)
            api_tran_id = api_tran_id or reply.api_tran_id
            found += [
                HeldAccount(
                    list_num=i.list_num,
                    institution=i.bank_code_std,
                    masked_number=i.account_num_masked,
                    product_name=i.product_name,
                    balance=_amount(i.balance_amt),
                    deposit=_amount(i.deposit_amt),
                )
                for i in reply.res_list
            ]
            trace += count
            if count == 0 or trace > total:
                return HeldAccounts(api_tran_id=api_tran_id, accounts=tuple(found))


class _Bearer:
    def __init__(self, token: str) -> None:
        self._token = token

    async def current(self) -> str:
        return self._token

    async def renew(self, rejected: str) -> str:
        return self._token
