"""One OrderExecutor over several brokers: each trading account names the broker it trades with.

The core never learns which brokers exist: the composition root hands in the executors by name
(the name recorded on every journal entry, shown with orders) and which account trades where.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from orchestrator.domain.errors import AccountUnknown
from orchestrator.domain.model import AccountRef, OrderIntent, OrderReport
from orchestrator.ports import OrderExecutor


class BrokerRouter:
    """Sends each order to the executor of its account's broker."""

    def __init__(
        self, executors: Mapping[str, OrderExecutor], account_brokers: Mapping[str, str]
    ) -> None:
        unknown = sorted(set(account_brokers.values()) - set(executors))
        if unknown:
            raise ValueError(f"accounts name brokers without an executor: {', '.join(unknown)}")
        self._executors = dict(executors)
        self._accounts = dict(account_brokers)

    @property
    def name(self) -> str:
        return "+".join(sorted(self._executors))

    @property
    def names(self) -> Sequence[str]:
        return tuple(sorted(self._executors))

    def broker_of(self, account: AccountRef) -> str:
        """The broker of a trading account; AccountUnknown when it trades nowhere."""
        broker = self._accounts.get(account.account_id)
        if broker is None and account.institution.name.lower() in self._executors:
            # An account added after start (investor records): the broker its institution names.
            broker = account.institution.name.lower()
        if broker is None:
            raise AccountUnknown("orchestrator", f"{account.account_id} is not a trading account")
        return broker

    def executor(self, broker: str) -> OrderExecutor:
        return self._executors[broker]

    async def submit(self, intent: OrderIntent) -> OrderReport:
        return await self._for(intent.account).submit(intent)

    async def cancel(self, order: OrderReport) -> OrderReport:
        return await self._for(order.account).cancel(order)

    async def orders_since(self, account: AccountRef, since: datetime) -> Sequence[OrderReport]:
        return await self._for(account).orders_since(account, since)

    def _for(self, account: AccountRef) -> OrderExecutor:
        return self._executors[self.broker_of(account)]
