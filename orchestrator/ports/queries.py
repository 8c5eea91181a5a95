"""Read models for the operator API: answered from our own database, never from a vendor."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol


class OperatorQueries(Protocol):
    """Each method returns JSON-ready mappings (Decimals as strings, datetimes aware)."""

    async def reconciliations(self, limit: int, offset: int) -> Sequence[Mapping[str, Any]]: ...

    async def reconciliation(self, run_id: str) -> Mapping[str, Any] | None:
        """One run with its breaks, or None."""
        ...

    async def breaks(
        self, status: str | None, limit: int, offset: int, user_id: str | None = None
    ) -> Sequence[Mapping[str, Any]]:
        """Breaks, newest first; only `user_id`'s when given."""
        ...

    async def orders(
        self, state: str | None, limit: int, offset: int, user_id: str | None = None
    ) -> Sequence[Mapping[str, Any]]:
        """Order intents, newest first; only `user_id`'s when given."""
        ...

    async def audit(self, limit: int, offset: int) -> Sequence[Mapping[str, Any]]: ...

    async def latest_portfolio(self, user_id: str) -> Mapping[str, Any] | None:
        """The user's consolidated portfolio from the newest finished reconciliation."""
        ...

    async def portfolio_history(self, user_id: str, limit: int) -> Sequence[Mapping[str, Any]]:
        """The user's consolidated portfolio at each of the newest `limit` finished
        reconciliations, oldest first (for charts)."""
        ...

    async def break_detail(self, break_id: int) -> Mapping[str, Any] | None:
        """One break with the evidence of the runs that saw it, or None."""
        ...

    async def open_break_count(self) -> int: ...

    async def secret_expiries(self) -> Mapping[str, datetime | None]: ...
