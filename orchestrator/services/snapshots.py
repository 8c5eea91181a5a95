"""Fresh readings of accounts, for reconciliation: every read bypasses every cache (`fresh=True`).

A read never raises: whatever goes wrong (a SourceError, or a bug in an adapter) comes back as a
Reading with `error` set, so a failing source leaves a stale_source break, never a silent gap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

import structlog

from orchestrator.domain.errors import SourceError
from orchestrator.domain.model import AccountRef, Snapshot, Transaction
from orchestrator.domain.reconciliation import Reading
from orchestrator.ports.upstream import AccountSource, CashAndPositionsSource

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ReadPlan:
    """What to read for one configured account. `transactions`: KST date range, or None."""

    user_id: str
    account_id: str
    source: str
    positions: bool = True
    transactions: tuple[date, date] | None = None


def describe(error: BaseException) -> str:
    """A one-line reason for a failed read (SourceError messages already name the source)."""
    if isinstance(error, SourceError):
        return str(error)
    return f"{type(error).__name__}: {error}"


@dataclass
class SourceAccounts:
    """Resolves configured account ids to AccountRefs through each source's `accounts()`, asking
    each source once per user (within one run)."""

    sources: Mapping[str, AccountSource]
    _known: dict[tuple[str, str], Sequence[AccountRef] | str] = field(default_factory=dict)

    async def resolve(self, source_name: str, user_id: str, account_id: str) -> AccountRef | str:
        """The account's ref, or a reason why it cannot be read."""
        source = self.sources.get(source_name)
        if source is None:
            return f"no account source named {source_name!r}"
        key = (source_name, user_id)
        if key not in self._known:
            try:
                self._known[key] = tuple(await source.accounts(user_id))
            except Exception as e:  # any failure is a stale source, never a crash of the run
                log.warning(
                    "reconcile.source_failed",
                    source=source_name,
                    user_id=user_id,
                    step="accounts",
                    error=describe(e),
                )
                self._known[key] = describe(e)
        known = self._known[key]
        if isinstance(known, str):
            return known
        for ref in known:
            if ref.account_id == account_id:
                return ref
        return f"{source_name} does not list account {account_id} for user {user_id}"


async def take_reading(
    source: AccountSource, account: AccountRef, plan: ReadPlan, *, taken_at: datetime
) -> Reading:
    """Read cash (and positions, transactions as planned) fresh; never raises."""
    positions_read = plan.positions
    transactions_read = plan.transactions is not None
    try:
        if plan.positions and isinstance(source, CashAndPositionsSource):
            cash, held = await source.cash_and_positions(account)
            positions = tuple(held)
        else:
            cash = await source.cash(account, fresh=True)
            positions = tuple(await source.positions(account, fresh=True)) if plan.positions else ()
        transactions: tuple[Transaction, ...] = ()
        if plan.transactions is not None:
            start, end = plan.transactions
            transactions = tuple([tx async for tx in source.transactions(account, start, end)])
    except Exception as e:  # any failure is a stale source, never a crash of the run
        reason = describe(e)
        log.warning(
            "reconcile.source_failed",
            source=plan.source,
            user_id=plan.user_id,
            account_id=plan.account_id,
            error=reason,
            unexpected=not isinstance(e, SourceError),
        )
        return Reading(
            user_id=plan.user_id,
            account_id=plan.account_id,
            source=plan.source,
            taken_at=taken_at,
            snapshot=Snapshot(account=account, source=plan.source, taken_at=taken_at, error=reason),
            error=reason,
            positions_read=positions_read,
            transactions_read=transactions_read,
        )
    return Reading(
        user_id=plan.user_id,
        account_id=plan.account_id,
        source=plan.source,
        taken_at=taken_at,
        snapshot=Snapshot(
            account=account,
            source=plan.source,
            taken_at=taken_at,
            cash=cash,
            positions=positions,
            transactions=transactions,
        ),
        positions_read=positions_read,
        transactions_read=transactions_read,
    )


async def read_account(directory: SourceAccounts, plan: ReadPlan, *, taken_at: datetime) -> Reading:
    """Resolve and read one configured account; never raises."""
    ref = await directory.resolve(plan.source, plan.user_id, plan.account_id)
    if isinstance(ref, str):
        return Reading(
            user_id=plan.user_id,
            account_id=plan.account_id,
            source=plan.source,
            taken_at=taken_at,
            error=ref,
            positions_read=plan.positions,
            transactions_read=plan.transactions is not None,
        )
    return await take_reading(directory.sources[plan.source], ref, plan, taken_at=taken_at)
