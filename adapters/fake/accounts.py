"""An in-memory AccountSource: accounts, cash, positions and history set by the test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import date

from orchestrator.domain.errors import AccountUnknown, SourceError
from orchestrator.domain.model import AccountRef, CashBalance, Position, Transaction
from orchestrator.domain.timeutil import to_kst


class FakeAccountSource:
    """Answers from what was put in; never caches, so `fresh` changes nothing.

    An account that was never added raises AccountUnknown, like a source that has no such account.
    `reads` counts every call that reached the source (for cache and retry tests).
    """

    def __init__(self, name: str = "fake-accounts") -> None:
        self._name = name
        self._accounts: dict[str, AccountRef] = {}
        self._cash: dict[str, CashBalance] = {}
        self._positions: dict[str, list[Position]] = {}
        self._transactions: dict[str, list[Transaction]] = {}
        self._failures: list[SourceError] = []
        self.reads = 0

    @property
    def name(self) -> str:
        return self._name

    def add_account(self, account: AccountRef) -> None:
        self._accounts[account.account_id] = account

    def set_cash(self, cash: CashBalance) -> None:
        self.add_account(cash.account)
        self._cash[cash.account.account_id] = cash

    def set_positions(self, account: AccountRef, positions: Sequence[Position]) -> None:
        self.add_account(account)
        self._positions[account.account_id] = list(positions)

    def add_transactions(self, account: AccountRef, transactions: Sequence[Transaction]) -> None:
        self.add_account(account)
        self._transactions.setdefault(account.account_id, []).extend(transactions)

    def fail_next(self, error: SourceError) -> None:
        """Make the next read of any kind raise `error`."""
        self._failures.append(error)

    async def accounts(self, user_id: str) -> Sequence[AccountRef]:
        self._read()
        return [a for a in self._accounts.values() if a.user_id == user_id]

    async def cash(self, account: AccountRef, *, fresh: bool = False) -> CashBalance:
        self._read(account)
        cash = self._cash.get(account.account_id)
        if cash is None:
            raise AccountUnknown(self._name, "no cash figure for this account")
        return cash

    async def positions(self, account: AccountRef, *, fresh: bool = False) -> Sequence[Position]:
        self._read(account)
        return list(self._positions.get(account.account_id, []))

    async def transactions(
        self, account: AccountRef, start: date, end: date
    ) -> AsyncIterator[Transaction]:
        self._read(account)
        found = [
            t
            for t in self._transactions.get(account.account_id, [])
            if start <= to_kst(t.occurred_at).date() <= end
        ]
        for t in sorted(found, key=lambda t: t.occurred_at):
            yield t

    def _read(self, account: AccountRef | None = None) -> None:
        self.reads += 1
        if self._failures:
            raise self._failures.pop(0)
        if account is not None and account.account_id not in self._accounts:
            raise AccountUnknown(self._name, "no such account")
