"""The Samsung Securities CMA as the relay shows it, behind the AccountSource port.

- `accounts`: account/list (spec §2.2), registered, in use, readable, of the configured
  institutions. It has no balances (spec §8.6).
- `cash`: balance/fin_num (spec §2.3): deposit = `balance_amt`, withdrawable = `available_amt`;
  the relay has no orderable figure. Display reads are served from a short cache; `fresh=True`
  bypasses it.
- `positions`: always empty. Open Banking exposes cash and history only, never holdings
  (spec §9); holdings would need the MyData 금융투자 API, which this adapter does not speak.
- `transactions`: transaction_list/fin_num (spec §2.4), every page, oldest first, streamed: one
  page (≤ 25 rows) in memory at a time, the `befor_inquiry_trace_info` cursor omitted on page one
  and copied after (§8.5), A0018 read as "no rows".

Every read carries the user's limiter key, so one user's reads share the per-user budget.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from dataclasses import replace
from datetime import date

import structlog

from adapters.http import DisplayCache
from adapters.openbanking.auth import OpenBankingTokens
from adapters.openbanking.client import OpenBankingClient
from adapters.openbanking.endpoints import ACCOUNT_LIST, BALANCE, TRANSACTIONS
from adapters.openbanking.errors import NO_HISTORY, boundary
from adapters.openbanking.mapping import (
    ACCOUNT_IN_USE,
    account_id_of,
    account_kind,
    account_list_query,
    account_ref,
    balance_query,
    cash_balance,
    row_key,
    transaction_of,
    transactions_query,
)
from adapters.openbanking.schemas import AccountListReply, BalanceReply, TransactionPage
from adapters.openbanking.settings import OpenBankingSettings
from orchestrator.domain.errors import SourceUnavailable
from orchestrator.domain.investors import InvestorAccount
from orchestrator.domain.model import AccountRef, CashBalance, Position, Transaction
from orchestrator.ports import Clock

log = structlog.get_logger(__name__)


class OpenBankingAccountSource:
    """AccountSource over the relay for the users who consented (see `OpenBankingConsent`)."""

    def __init__(
        self,
        settings: OpenBankingSettings,
        client: OpenBankingClient,
        tokens: OpenBankingTokens,
        *,
        clock: Clock,
        cash_cache: DisplayCache[CashBalance],
    ) -> None:
        self._settings = settings
        self._client = client
        self._tokens = tokens
        self._clock = clock
        self._cash = cash_cache

    @property
    def name(self) -> str:
        return self._settings.source_name

    async def accounts(self, user_id: str) -> Sequence[AccountRef]:
        """Registered, in-use accounts of the configured institutions (Samsung by default)."""
        user_seq_no = await self._tokens.user_seq_no(user_id)
        body = await self._client.call(
            ACCOUNT_LIST,
            bearer=self._tokens.user_bearer(user_id),
            params=account_list_query(user_seq_no),
            limit_keys=(self._settings.limit_key(user_id),),
        )
        with boundary(self.name):
            reply = AccountListReply.model_validate(body)
        institutions = self._settings.institutions
        return [
            ref
            for item in reply.res_list
            if (ref := account_ref(item, user_id, institutions)) is not None
        ]

    async def registered(self, user_id: str) -> list[InvestorAccount]:
        """Account discovery (spec §2.2): every in-use registration of the user at every
        institution, as investor accounts. Those of the configured institutions are read by
        reconciliation (enabled); the others are listed for the consolidated view only."""
        user_seq_no = await self._tokens.user_seq_no(user_id)
        body = await self._client.call(
            ACCOUNT_LIST,
            bearer=self._tokens.user_bearer(user_id),
            params=account_list_query(user_seq_no),
            limit_keys=(self._settings.limit_key(user_id),),
        )
        with boundary(self.name):
            reply = AccountListReply.model_validate(body)
        readable = {i.value for i in self._settings.institutions}
        now = self._clock.now()
        found: list[InvestorAccount] = []
        for item in reply.res_list:
            if item.account_state and item.account_state != ACCOUNT_IN_USE:
                continue
            found.append(
                InvestorAccount(
                    id=account_id_of(item.fintech_use_num),
                    investor_id=user_id,
                    source=self.name,
                    institution=item.bank_code_std,
                    kind=account_kind(
                        item.bank_code_std, item.account_type, item.account_alias
                    ).value,
                    external_ref=item.fintech_use_num,
                    masked_number=item.account_num_masked,
                    name=" ".join(x for x in (item.bank_name, item.account_alias) if x),
                    origin="discovered",
                    enabled=item.bank_code_std in readable and item.inquiry_agree_yn != "N",
                    created_at=now,
                    updated_at=now,
                )
            )
        return found

    async def cash(self, account: AccountRef, *, fresh: bool = False) -> CashBalance:
        """balance_amt / available_amt now (fresh) or from the display cache (30-60 s)."""
        cached = await self._cash.get(
            ("cash", account.user_id, account.external_ref),
            lambda: self._read_cash(account),
            fresh=fresh,
        )
        return replace(cached.value, stale=True) if cached.stale else cached.value

    async def positions(self, account: AccountRef, *, fresh: bool = False) -> Sequence[Position]:
        """Always empty: the relay reports no holdings (spec §9)."""
        return ()

    async def transactions(
        self, account: AccountRef, start: date, end: date
    ) -> AsyncGenerator[Transaction, None]:
        """Every transaction in [start, end] (KST dates), oldest first, one page in memory."""
        if start > end:
            return
        bearer = self._tokens.user_bearer(account.user_id)
        limit_keys = (self._settings.limit_key(account.user_id),)
        cursor: str | None = None
        # Identical rows in the same second get distinct ids; rows arrive in time order, so
        # only the current second's rows are remembered.
        second: tuple[str, str] = ("", "")
        seen: dict[tuple[str, ...], int] = {}
        for _ in range(self._settings.max_pages):
            body = await self._client.call(
                TRANSACTIONS,
                bearer=bearer,
                params=transactions_query(account, start, end, cursor),
                limit_keys=limit_keys,
                accept=(NO_HISTORY,),
            )
            with boundary(self.name):
                page = TransactionPage.model_validate(body)
                rows: list[Transaction] = []
                for item in page.res_list:
                    if (item.tran_date, item.tran_time) != second:
                        second = (item.tran_date, item.tran_time)
                        seen.clear()
                    key = row_key(item)
                    occurrence = seen.get(key, 0)
                    seen[key] = occurrence + 1
                    rows.append(transaction_of(item, account, occurrence))
            for row in rows:
                yield row
            if page.rsp_code == NO_HISTORY or page.next_page_yn != "Y":
                return
            if not page.befor_inquiry_trace_info:
                raise SourceUnavailable(self.name, "a next page was announced without a cursor")
            cursor = page.befor_inquiry_trace_info
        raise SourceUnavailable(
            self.name, f"transaction list longer than max_pages={self._settings.max_pages}"
        )

    def invalidate(self, account_external_ref: str, user_id: str) -> None:
        """Forget the displayed cash of an account (after a transfer into it)."""
        self._cash.invalidate(("cash", user_id, account_external_ref))

    async def _read_cash(self, account: AccountRef) -> CashBalance:
        body = await self._client.call(
            BALANCE,
            bearer=self._tokens.user_bearer(account.user_id),
            params=balance_query(account),
            limit_keys=(self._settings.limit_key(account.user_id),),
        )
        with boundary(self.name):
            return cash_balance(BalanceReply.model_validate(body), account, self._clock.now())
