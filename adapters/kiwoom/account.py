"""The Kiwoom account as an AccountSource: cash, holdings, and fills-derived cash moves.

No request names an account: Kiwoom binds it to the app key, and `ka00001` says which it is
(`acctNo`, 10 digits). That number is the AccountRef's `external_ref`; asking about any other
account is AccountUnknown.

cash(): deposit = 예수금 `entr`, orderable = `ord_alowa`, withdrawable = `wthd_alowa` (kt00010).
positions(): kt00018, every page; `A`-prefixed codes lose the prefix.
transactions(): no cash-ledger TR is in the digest, so the stream is derived from fills in
kt00007 (one gross move per order with fills), as for KIS.

Display reads (`fresh=False`) go through a DisplayCache; `fresh=True` always asks Kiwoom.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from datetime import date

from adapters.http import DisplayCache
from adapters.kiwoom import mapping
from adapters.kiwoom.client import KiwoomClient
from adapters.kiwoom.endpoints import ACCOUNT_NUMBER, BALANCE, BUYING_POWER
from adapters.kiwoom.errors import boundary
from adapters.kiwoom.executor import read_history
from adapters.kiwoom.schemas import AccountNumberReply, BalanceRow, BuyingPowerReply
from orchestrator.domain.errors import AccountUnknown, SourceUnavailable
from orchestrator.domain.model import (
    AccountKind,
    AccountRef,
    CashBalance,
    Position,
    Transaction,
)
from orchestrator.ports import Clock


class KiwoomAccountSource:
    """Reads the account bound to one Kiwoom app key."""

    def __init__(
        self,
        client: KiwoomClient,
        *,
        clock: Clock,
        cash_cache: DisplayCache[CashBalance],
        positions_cache: DisplayCache[tuple[Position, ...]],
    ) -> None:
        self._client = client
        self._clock = clock
        self._cash = cash_cache
        self._positions = positions_cache
        self._number: str | None = None
        self._number_lock = asyncio.Lock()

    @property
    def name(self) -> str:
        return self._client.source

    async def account_number(self) -> str:
        """`acctNo` of the app key (ka00001), asked once per process."""
        async with self._number_lock:
            if self._number is None:
                reply = await self._client.send(ACCOUNT_NUMBER, {})
                with boundary(self.name):
                    number = AccountNumberReply.parse(reply.data).acctNo.strip()
                    if not (len(number) == 10 and number.isdigit()):
                        raise SourceUnavailable(self.name, "ka00001 answered no account number")
                self._number = number
            return self._number

    async def accounts(self, user_id: str) -> Sequence[AccountRef]:
        settings = self._client.settings
        if user_id != settings.user_id:
            return []
        number = await self.account_number()
        return [
            AccountRef(
                user_id=settings.user_id,
                account_id=settings.resolved_account_id,
                institution=mapping.INSTITUTION,
                kind=AccountKind.BROKERAGE,
                external_ref=number,
                masked_number=mapping.mask_account(number),
            )
        ]

    async def cash(self, account: AccountRef, *, fresh: bool = False) -> CashBalance:
        await self._check(account)
        cached = await self._cash.get(
            ("cash", account.external_ref), lambda: self._read_cash(account), fresh=fresh
        )
        if cached.stale:
            return replace(cached.value, stale=True)
        return cached.value

    async def positions(self, account: AccountRef, *, fresh: bool = False) -> Sequence[Position]:
        await self._check(account)
        cached = await self._positions.get(
            ("positions", account.external_ref),
            lambda: self._read_positions(account),
            fresh=fresh,
        )
        return list(cached.value)

    async def transactions(
        self, account: AccountRef, start: date, end: date
    ) -> AsyncIterator[Transaction]:
        await self._check(account)
        rows = await read_history(self._client, start, end)
        with boundary(self.name):
            moves = mapping.transactions_from(mapping.reports_from_history(rows, account), account)
        for move in moves:
            yield move

    def invalidate(self, account: AccountRef) -> None:
        self._cash.invalidate(("cash", account.external_ref))
        self._positions.invalidate(("positions", account.external_ref))

    async def _check(self, account: AccountRef) -> None:
        if account.institution is not mapping.INSTITUTION:
            raise AccountUnknown(self.name, f"{account.account_id} is not a Kiwoom account")
        if account.external_ref != await self.account_number():
            raise AccountUnknown(
                self.name, f"{account.account_id} is not the account of this app key"
            )

    async def _read_cash(self, account: AccountRef) -> CashBalance:
        body = mapping.buying_power_body(self._client.settings.cash_probe_symbol)
        reply = await self._client.send(BUYING_POWER, body)
        with boundary(self.name):
            return mapping.cash_from(BuyingPowerReply.parse(reply.data), account, self._clock.now())

    async def _read_positions(self, account: AccountRef) -> tuple[Position, ...]:
        pages = await self._client.pages(BALANCE, mapping.balance_body(self._client.settings.venue))
        with boundary(self.name):
            rows: list[BalanceRow] = []
            for page in pages:
                rows += [BalanceRow.parse(raw) for raw in page.get(BALANCE.rows) or []]
            return tuple(mapping.positions_from(rows, account, self._clock.now()))
