"""The KIS account as an AccountSource: cash, holdings, and fills-derived cash moves.

cash(): deposit = 예수금 total `dnca_tot_amt` (unsettled trades still inside); withdrawable =
D+2 settled cash `prvs_rcdl_excc_amt`; orderable = `ord_psbl_cash` from inquire-psbl-order
(spec §4.3 cash semantics, §4.5; python-kis#78 is the confusion this keeps apart). After a buy
the deposit stays until settlement (T+2) while D+2 already excludes it, and an open buy order
reduces only the orderable figure.

positions(): inquire-balance, every page (50 real / 20 paper per page), restarting on SYDB0050.

cash_and_positions(): both in one pass for reconciliation. The balance pages are read once and
the first page's summary is the cash, so cash and holdings come from the same reply.

transactions(): KIS has no cash-ledger inquiry in the documented API, so the stream is derived
from fills in inquire-daily-ccld: one gross cash move per order with fills (buy: out, sell: in),
fees and taxes excluded, `tx_id` "fill:<YYYYMMDD>:<ODNO>". Deposits and withdrawals are not seen.

Display reads (`fresh=False`) go through a DisplayCache (short TTL, stale fallback when KIS is
down); `fresh=True` always asks KIS.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from datetime import date

from adapters.http import DisplayCache
from adapters.kis import mapping
from adapters.kis.client import KisClient
from adapters.kis.endpoints import BALANCE, PSBL_ORDER
from adapters.kis.errors import boundary
from adapters.kis.executor import read_daily_rows
from adapters.kis.schemas import BalancePage, BalanceRow, JsonObject, PsblOrderReply
from orchestrator.domain.errors import AccountUnknown
from orchestrator.domain.model import (
    AccountKind,
    AccountRef,
    CashBalance,
    Institution,
    Position,
    Transaction,
)
from orchestrator.ports import Clock


class KisAccountSource:
    """Reads the configured KIS account (one app key, one account)."""

    def __init__(
        self,
        client: KisClient,
        *,
        clock: Clock,
        cash_cache: DisplayCache[CashBalance],
        positions_cache: DisplayCache[tuple[Position, ...]],
    ) -> None:
        self._client = client
        self._clock = clock
        self._cash = cash_cache
        self._positions = positions_cache

    @property
    def name(self) -> str:
        return self._client.source

    async def accounts(self, user_id: str) -> Sequence[AccountRef]:
        """The configured account when `user_id` is its owner, else nothing."""
        settings = self._client.settings
        if user_id != settings.user_id:
            return []
        number = settings.account.get_secret_value()
        return [
            AccountRef(
                user_id=settings.user_id,
                account_id=settings.resolved_account_id,
                institution=Institution.KIS,
                kind=AccountKind.BROKERAGE,
                external_ref=number,
                masked_number=mapping.mask_account(number),
            )
        ]

    async def cash(self, account: AccountRef, *, fresh: bool = False) -> CashBalance:
        """Deposit, orderable and withdrawable (D+2) cash; `stale=True` when served from the
        cache because KIS could not be reached."""
        self._check(account)
        cached = await self._cash.get(
            ("cash", account.external_ref), lambda: self._read_cash(account), fresh=fresh
        )
        if cached.stale:
            return replace(cached.value, stale=True)
        return cached.value

    async def positions(self, account: AccountRef, *, fresh: bool = False) -> Sequence[Position]:
        """Holdings with quantity > 0, merged by symbol, from every balance page."""
        self._check(account)
        cached = await self._positions.get(
            ("positions", account.external_ref),
            lambda: self._read_positions(account),
            fresh=fresh,
        )
        return list(cached.value)

    async def cash_and_positions(
        self, account: AccountRef
    ) -> tuple[CashBalance, Sequence[Position]]:
        """Cash and holdings read fresh in one pass (reconciliation): every balance page (the
        first page's summary is the cash) and buying power; kept for later display reads."""
        self._check(account)
        pages = await self._client.pages(BALANCE, mapping.balance_query(account))
        psbl = await self._client.send(PSBL_ORDER, params=mapping.psbl_order_query(account))
        with boundary(self.name):
            parsed = [BalancePage.parse(page) for page in pages]
            cash = self._cash_of(parsed[0], psbl.data, account)
            positions = self._positions_of(parsed, account)
        self._cash.store(("cash", account.external_ref), cash)
        self._positions.store(("positions", account.external_ref), positions)
        return cash, list(positions)

    async def transactions(
        self, account: AccountRef, start: date, end: date
    ) -> AsyncIterator[Transaction]:
        """Fills-derived gross cash moves in [start, end] (KST days), oldest first."""
        self._check(account)
        rows = await read_daily_rows(self._client, account, start, end)
        with boundary(self.name):
            moves = mapping.transactions_from_daily(rows, account)
        for move in moves:
            yield move

    def invalidate(self, account: AccountRef) -> None:
        """Forget cached cash and holdings (an order may have moved them); keep the fallback."""
        self._cash.invalidate(("cash", account.external_ref))
        self._positions.invalidate(("positions", account.external_ref))

    def _check(self, account: AccountRef) -> None:
        if account.institution is not Institution.KIS:
            raise AccountUnknown(self.name, f"{account.account_id} is not a KIS account")
        try:
            mapping.split_account(account.external_ref)
        except ValueError as e:
            raise AccountUnknown(self.name, f"{account.account_id}: {e}") from e

    async def _read_cash(self, account: AccountRef) -> CashBalance:
        first = await self._client.send(BALANCE, params=mapping.balance_query(account))
        psbl = await self._client.send(PSBL_ORDER, params=mapping.psbl_order_query(account))
        with boundary(self.name):
            return self._cash_of(BalancePage.parse(first.data), psbl.data, account)

    async def _read_positions(self, account: AccountRef) -> tuple[Position, ...]:
        pages = await self._client.pages(BALANCE, mapping.balance_query(account))
        with boundary(self.name):
            return self._positions_of([BalancePage.parse(page) for page in pages], account)

    def _cash_of(self, first: BalancePage, psbl: JsonObject, account: AccountRef) -> CashBalance:
        summaries = first.output2
        if not summaries:
            raise ValueError("balance reply without output2 summary")
        return mapping.cash_from(
            summaries[0], PsblOrderReply.parse(psbl).output, account, self._clock.now()
        )

    def _positions_of(
        self, pages: Sequence[BalancePage], account: AccountRef
    ) -> tuple[Position, ...]:
        rows: list[BalanceRow] = []
        for page in pages:
            rows += page.output1
        return tuple(mapping.positions_from(rows, account, self._clock.now()))
