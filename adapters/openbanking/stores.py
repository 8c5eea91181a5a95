"""What the open-banking adapter persists, as Protocols the database layer implements.

The adapter never imports `adapters.db`: bootstrap hands it objects that satisfy these. Writes that
the audit log must record take the `AuditEvent` with them, so an implementation can commit the
change and its audit row in one transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from orchestrator.domain.model import AuditEvent, Transaction, TransferState
from orchestrator.domain.money import check_money
from orchestrator.domain.timeutil import check_aware

PROVIDER = "openbanking"


class ConsentState(StrEnum):
    """Where a user's open-banking consent stands."""

    PENDING = "pending"  # authorize URL handed out, no token yet
    GRANTED = "granted"  # a token is stored and believed valid
    REVOKED = "revoked"  # revoked by an operator (or the relay refused the refresh after revoke)
    EXPIRED = "expired"  # the relay no longer honours the refresh token: consent again


@dataclass(frozen=True, slots=True)
class StoredToken:
    """An access token as issued by `/oauth/2.0/token` (spec §1.3-§1.5). repr() hides secrets."""

    access_token: str = field(repr=False)
    expires_at: datetime
    scope: str = ""
    refresh_token: str | None = field(default=None, repr=False)
    user_seq_no: str | None = None
    client_use_code: str | None = None

    def __post_init__(self) -> None:
        check_aware(self, "expires_at")


@dataclass(frozen=True, slots=True)
class Consent:
    """One user's consent. `oauth_state`/`code_verifier` are set while an authorize is pending."""

    user_id: str
    state: ConsentState
    updated_at: datetime
    scope: str = ""
    user_seq_no: str = ""
    granted_at: datetime | None = None
    expires_at: datetime | None = None
    oauth_state: str = field(default="", repr=False)
    code_verifier: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        check_aware(self, "updated_at", "granted_at", "expires_at")

    @property
    def granted(self) -> bool:
        return self.state is ConsentState.GRANTED


class TokenVault(Protocol):
    """Encrypted token storage shared by every replica (tokens never stored in clear)."""

    async def load(self, key: str) -> StoredToken | None:
        """The token stored under `key`, or None."""
        ...

    async def save(self, key: str, token: StoredToken, *, now: datetime) -> None:
        """Store (or replace) the token under `key`."""
        ...


class ConsentStore(Protocol):
    """Consent rows, and the user token that goes with a granted consent."""

    async def get(self, user_id: str) -> Consent | None:
        """The user's consent, or None if it was never started."""
        ...

    async def begin(
        self, user_id: str, *, oauth_state: str, code_verifier: str, scope: str, now: datetime
    ) -> None:
        """Remember a pending authorize; a granted consent stays granted meanwhile."""
        ...

    async def grant(
        self, user_id: str, token: StoredToken, *, token_key: str, now: datetime, audit: AuditEvent
    ) -> Consent:
        """Mark granted, store the token under `token_key`, append `audit`: one transaction."""
        ...

    async def refresh(
        self, user_id: str, token: StoredToken, *, token_key: str, now: datetime, audit: AuditEvent
    ) -> None:
        """Store a refreshed token and its new expiry, append `audit`: one transaction."""
        ...

    async def end(
        self,
        user_id: str,
        state: ConsentState,
        *,
        token_key: str,
        now: datetime,
        audit: AuditEvent,
    ) -> None:
        """Mark REVOKED or EXPIRED, delete the token, append `audit`: one transaction."""
        ...


class TranIdAllocator(Protocol):
    """Hands out `bank_tran_id`s that no replica has used (spec §4: unique per day)."""

    async def allocate(
        self, prefix: str, *, day: str, at: datetime, count: int = 1, purpose: str = ""
    ) -> list[str]:
        """`count` fresh ids `prefix + "U" + 9 chars`, recorded for KST `day` (yyyyMMdd)."""
        ...


@dataclass(frozen=True, slots=True)
class NewTransfer:
    """A deposit as decided, recorded before anything is sent."""

    id: str
    idempotency_key: str
    user_id: str
    from_account_id: str
    to_account_id: str
    amount: Decimal
    bank_tran_id: str
    requested_at: datetime

    def __post_init__(self) -> None:
        check_money(self, "amount")
        check_aware(self, "requested_at")


@dataclass(frozen=True, slots=True)
class TransferRecord:
    """A journal entry: the transfer as decided and the latest state we know of it."""

    id: str
    idempotency_key: str
    user_id: str
    from_account_id: str
    to_account_id: str
    amount: Decimal
    state: TransferState
    bank_tran_id: str
    requested_at: datetime
    updated_at: datetime
    rsp_code: str | None = None
    message: str | None = None
    completed_at: datetime | None = None

    def __post_init__(self) -> None:
        check_money(self, "amount")
        check_aware(self, "requested_at", "updated_at", "completed_at")


class TransferJournal(Protocol):
    """The transfer journal. Every state change is a compare-and-set on the stored state."""

    async def record(
        self,
        transfer: NewTransfer,
        *,
        daily_limit: Decimal,
        day_start: datetime,
        audit: AuditEvent,
    ) -> tuple[TransferRecord, bool]:
        """Insert in PENDING_SUBMIT; (existing, False) when the idempotency key is taken.

        Raises GuardrailViolation (nothing stored) when the transfers out of the same account
        since `day_start` that are not FAILED, plus this one, would exceed `daily_limit`; the
        check and the insert are atomic across replicas.
        """
        ...

    async def by_key(self, idempotency_key: str) -> TransferRecord | None: ...

    async def update(
        self,
        transfer_id: str,
        state: TransferState,
        *,
        expect: Collection[TransferState],
        at: datetime,
        rsp_code: str | None = None,
        message: str | None = None,
        audit: AuditEvent | None = None,
    ) -> TransferRecord | None:
        """Move to `state` if the stored state is in `expect`; None when it was not."""
        ...

    async def unresolved(self, from_account_id: str) -> Sequence[TransferRecord]:
        """Transfers out of `from_account_id` in PENDING_SUBMIT, UNKNOWN or PROCESSING, oldest
        first."""
        ...


class TransactionSink(Protocol):
    """Where a history sync writes (used by the benchmark and by a sync job)."""

    async def add_many(
        self, transactions: Sequence[Transaction], *, source: str, synced_at: datetime
    ) -> int:
        """Store the rows not already stored (by account and tx_id); returns how many were new."""
        ...


class Stores(Protocol):
    """Everything the adapter persists, as bootstrap hands it over."""

    @property
    def vault(self) -> TokenVault: ...

    @property
    def consents(self) -> ConsentStore: ...

    @property
    def tran_ids(self) -> TranIdAllocator: ...

    @property
    def transfers(self) -> TransferJournal: ...
