"""SQLModel tables: the only place where rows are shaped. Schema changes go through Alembic.

Conventions: datetimes are aware and stored as UTC (sqlmodel's UTCDateTime), money is exact text
(DecimalText), enums are plain strings (no native enums: no ALTER TYPE migrations on PostgreSQL).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Column, Index, MetaData, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from adapters.db.types import DecimalText, JsonText

# Deterministic constraint names: Alembic batch mode on SQLite needs names to alter constraints.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata: MetaData = SQLModel.metadata


def _money(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(DecimalText(), nullable=nullable))


def _json() -> Any:
    return Field(default=None, sa_column=Column(JsonText(), nullable=True))


class UserRow(SQLModel, table=True):
    __tablename__ = "users"
    id: str = Field(primary_key=True, max_length=64)
    display_name: str = Field(default="", max_length=200)
    created_at: datetime


class LinkedAccountRow(SQLModel, table=True):
    __tablename__ = "linked_accounts"
    id: str = Field(primary_key=True, max_length=64)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=64)
    institution: str = Field(max_length=10)
    kind: str = Field(max_length=20)
    source: str = Field(max_length=40)
    external_ref: str = Field(max_length=64)
    masked_number: str = Field(default="", max_length=40)
    linked_at: datetime


class AuditEventRow(SQLModel, table=True):
    """Append-only. Each row carries the hash of the previous one; unique prev_hash keeps the chain
    linear even with concurrent writers (the loser of a race retries on the new head)."""

    __tablename__ = "audit_events"
    seq: int | None = Field(default=None, primary_key=True)
    at: datetime
    actor: str = Field(max_length=100)
    action: str = Field(max_length=100, index=True)
    subject: str = Field(max_length=200)
    detail: dict[str, str] | None = _json()
    prev_hash: str = Field(max_length=64, unique=True)
    hash: str = Field(max_length=64)


class StoredSecretRow(SQLModel, table=True):
    """Encrypted tokens (KIS access tokens, open-banking user tokens), one row per purpose."""

    __tablename__ = "stored_secrets"
    key: str = Field(primary_key=True, max_length=200)
    ciphertext: str
    expires_at: datetime | None = None
    updated_at: datetime
    meta: dict[str, Any] | None = _json()


class ConsentRow(SQLModel, table=True):
    __tablename__ = "consents"
    user_id: str = Field(primary_key=True, max_length=64)
    provider: str = Field(primary_key=True, max_length=40)
    state: str = Field(max_length=20)  # pending | granted | revoked | expired
    scope: str = Field(default="", max_length=200)
    user_seq_no: str = Field(default="", max_length=20)
    oauth_state: str = Field(default="", max_length=100)
    code_verifier_enc: str = Field(default="")
    granted_at: datetime | None = None
    expires_at: datetime | None = None
    updated_at: datetime


class OrderIntentRow(SQLModel, table=True):
    """The order journal: committed in PENDING_SUBMIT before the broker hears of it.

    The account columns are copied from the AccountRef so that start-up recovery can ask the broker
    about exactly the account the order went to, even if the link changed since. Brokers restart
    order numbers daily, so (account, KST day, broker order id) is unique: two intents can never
    claim the same broker order.
    """

    __tablename__ = "order_intents"
    __table_args__ = (
        UniqueConstraint("account_id", "broker_order_day", "broker_order_id"),
        # The operator views list newest first, optionally by state: without these each page
        # view sorted the whole journal (10,000 orders: tens of ms per console page).
        Index("ix_order_intents_created_at", "created_at"),
        Index("ix_order_intents_state_created_at", "state", "created_at"),
    )
    id: str = Field(primary_key=True, max_length=40)
    idempotency_key: str = Field(max_length=200, unique=True)
    user_id: str = Field(max_length=64, index=True)
    account_id: str = Field(max_length=64, index=True)
    institution: str = Field(default="", max_length=10)
    account_kind: str = Field(default="", max_length=20)
    # Encrypted (Fernet, security.encryption_keys): a token, not the account number.
    external_ref: str = Field(default="", sa_column=Column(Text(), nullable=False, default=""))
    masked_number: str = Field(default="", max_length=40)
    broker: str = Field(max_length=40)
    symbol: str = Field(max_length=20)
    side: str = Field(max_length=4)
    quantity: int
    order_type: str = Field(max_length=10)
    limit_price: Decimal | None = _money()
    state: str = Field(max_length=20, index=True)
    origin: str = Field(default="manual", max_length=200)
    attempts: int = 0
    broker_order_id: str | None = Field(default=None, max_length=40)
    broker_order_day: str | None = Field(default=None, max_length=8)
    branch: str | None = Field(default=None, max_length=10)
    filled_quantity: int = 0
    avg_fill_price: Decimal | None = _money()
    reject_code: str | None = Field(default=None, max_length=40)
    last_error: str | None = None
    created_at: datetime
    submitted_at: datetime | None = None
    resolved_at: datetime | None = None
    updated_at: datetime
    cancel_requested_at: datetime | None = None
    cancel_state: str | None = Field(default=None, max_length=20)


class FillRow(SQLModel, table=True):
    """Fill increments learned from the broker's daily list; (order, cumulative qty) is unique so
    reading the same list twice records nothing new."""

    __tablename__ = "fills"
    __table_args__ = (
        UniqueConstraint("intent_id", "cumulative_quantity"),
        # Reconciliation reads one account's fills since its baseline on every fire.
        Index("ix_fills_account_filled_at", "account_id", "filled_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    intent_id: str = Field(foreign_key="order_intents.id", index=True, max_length=40)
    account_id: str = Field(max_length=64)
    symbol: str = Field(max_length=20)
    side: str = Field(max_length=4)
    quantity: int
    cumulative_quantity: int
    price: Decimal | None = _money()
    filled_at: datetime


class TransferRow(SQLModel, table=True):
    __tablename__ = "transfers"
    id: str = Field(primary_key=True, max_length=40)
    idempotency_key: str = Field(max_length=200, unique=True)
    user_id: str = Field(max_length=64, index=True)
    from_account_id: str = Field(max_length=64)
    to_account_id: str = Field(max_length=64)
    amount: Decimal | None = _money(nullable=False)
    state: str = Field(max_length=20, index=True)
    bank_tran_id: str | None = Field(default=None, max_length=20, unique=True)
    rsp_code: str | None = Field(default=None, max_length=10)
    message: str | None = None
    requested_at: datetime
    completed_at: datetime | None = None
    updated_at: datetime


class TransactionRow(SQLModel, table=True):
    """Account history as the institution reported it (open-banking sync). The source has no
    transaction id of its own, so `tx_id` is derived by the adapter; (account_id, tx_id) is unique
    and a re-sync of the same range stores nothing new."""

    __tablename__ = "transactions"
    __table_args__ = (UniqueConstraint("account_id", "tx_id"),)
    id: int | None = Field(default=None, primary_key=True)
    user_id: str = Field(max_length=64)
    account_id: str = Field(max_length=64)
    tx_id: str = Field(max_length=64)
    source: str = Field(max_length=40)
    occurred_at: datetime = Field(index=True)
    direction: str = Field(max_length=3)
    amount: Decimal | None = _money(nullable=False)
    balance_after: Decimal | None = _money()
    description: str = Field(default="", max_length=200)
    synced_at: datetime


class BankTranIdRow(SQLModel, table=True):
    """Allocated KFTC bank_tran_ids: unique per day across every replica (the DB decides)."""

    __tablename__ = "bank_tran_ids"
    bank_tran_id: str = Field(primary_key=True, max_length=20)
    day: str = Field(max_length=8, index=True)
    purpose: str = Field(default="", max_length=100)
    allocated_at: datetime


class SnapshotRow(SQLModel, table=True):
    """One reading of one account by one source in a reconciliation run (`error` set when it
    failed). The newest `accepted` row of an account is its baseline. Transactions are kept
    without their free-text description (personal data we do not need)."""

    __tablename__ = "snapshots"
    # An account's newest (accepted) snapshot is read on every fire: without this, the read
    # sorts every snapshot the account ever had (one per fire, 8,640 a month at 5 minutes).
    __table_args__ = (Index("ix_snapshots_account_taken_at", "account_id", "taken_at"),)
    id: int | None = Field(default=None, primary_key=True)
    run_id: str | None = Field(default=None, max_length=40, index=True)
    user_id: str = Field(max_length=64)
    account_id: str = Field(max_length=64, index=True)
    institution: str = Field(default="", max_length=10)
    account_kind: str = Field(default="", max_length=20)
    masked_number: str = Field(default="", max_length=40)
    source: str = Field(max_length=40)
    taken_at: datetime
    deposit: Decimal | None = _money()
    orderable: Decimal | None = _money()
    withdrawable: Decimal | None = _money()
    positions: list[dict[str, Any]] | None = _json()
    transactions: list[dict[str, Any]] | None = _json()
    positions_read: bool = True
    transactions_read: bool = False
    error: str | None = None
    accepted: bool = False


class ReconciliationRunRow(SQLModel, table=True):
    __tablename__ = "reconciliation_runs"
    id: str = Field(primary_key=True, max_length=40)
    trigger: str = Field(default="manual", max_length=100)
    started_at: datetime = Field(index=True)
    finished_at: datetime | None = None
    status: str = Field(max_length=20)
    break_count: int = 0
    report: dict[str, Any] | None = _json()


class BreakRow(SQLModel, table=True):
    """A reconciliation break. `open_key` (user + identity) is set only while the break is open;
    being unique, it keeps one open row per identity even under concurrent runs (NULLs never
    collide, so resolved rows pile up freely)."""

    __tablename__ = "breaks"
    __table_args__ = (Index("ix_breaks_identity_status", "identity", "status"),)
    id: int | None = Field(default=None, primary_key=True)
    identity: str = Field(max_length=300)
    open_key: str | None = Field(default=None, max_length=400, unique=True)
    kind: str = Field(max_length=30)
    user_id: str = Field(max_length=64)
    account_id: str = Field(max_length=64)
    key: str = Field(max_length=100)
    detail: str
    expected: Decimal | None = _money()
    observed: Decimal | None = _money()
    status: str = Field(max_length=20)  # open | acknowledged | resolved (domain/breaks.py)
    first_run_id: str = Field(max_length=40)
    last_run_id: str = Field(max_length=40)
    first_seen_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None = None
    resolution: str | None = Field(default=None, max_length=20)  # cleared | manual
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = Field(default=None, max_length=100)
    resolved_by: str | None = Field(default=None, max_length=100)
    note: str | None = Field(default=None, max_length=1000)
    reopened: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # Compare-and-set token: every change bumps it (a run and an operator never overwrite).
    version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})


class JobRunRow(SQLModel, table=True):
    """One row per scheduled fire. The primary key is the claim: replicas race to insert it.

    `scheduled_for` is the trigger's nominal fire time (whole seconds, UTC), the same on every
    replica; a manual run (operator "run now") is keyed by the request time and marked `manual`.
    """

    __tablename__ = "job_runs"
    job_id: str = Field(primary_key=True, max_length=100)
    scheduled_for: datetime = Field(primary_key=True)
    replica: str = Field(max_length=100)
    status: str = Field(max_length=20)  # running | succeeded | failed
    started_at: datetime
    finished_at: datetime | None = None
    duration_ms: int | None = None
    error: str | None = None
    manual: bool = False
    requested_by: str | None = Field(default=None, max_length=100)
    # A fire fanned out per investor: how many investor tasks it holds and how many ended.
    # None for a fire that ran as one piece. The run finishes when done + failed reaches total.
    total: int | None = None
    done: int = 0
    failed: int = 0
    engine: str = Field(default="in-process", max_length=20)


class JobRunItemRow(SQLModel, table=True):
    """One investor's outcome within a fanned-out fire. The primary key makes counting exactly
    once: a task retried after its worker died cannot record its investor a second time."""

    __tablename__ = "job_run_items"
    job_id: str = Field(primary_key=True, max_length=100)
    scheduled_for: datetime = Field(primary_key=True)
    investor: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=20)
    status: str = Field(max_length=20)  # succeeded | failed
    detail: str | None = Field(default=None, max_length=500)
    attempts: int = 1
    worker: str = Field(default="", max_length=100)
    finished_at: datetime
    duration_ms: int = 0


class JobStateRow(SQLModel, table=True):
    """Operator overrides of the YAML schedule (pause/resume), shared by every replica."""

    __tablename__ = "job_state"
    job_id: str = Field(primary_key=True, max_length=100)
    paused: bool = False
    updated_at: datetime
    updated_by: str = Field(default="", max_length=100)


class SettingRow(SQLModel, table=True):
    """Small persisted switches (the kill switch) shared by every replica."""

    __tablename__ = "settings_kv"
    key: str = Field(primary_key=True, max_length=100)
    value: dict[str, Any] | None = _json()
    updated_at: datetime
    updated_by: str = Field(default="", max_length=100)


class WorkflowRunRow(SQLModel, table=True):
    """One run per workflow fire: the unique fire_key is the claim. `updated_at` bounds the scan
    for the per-day notional cap; plan, decisions and outcome are JSON (orchestrator.workflows)."""

    __tablename__ = "workflow_runs"
    id: str = Field(primary_key=True, max_length=40)
    workflow: str = Field(max_length=100, index=True)
    fire_key: str = Field(max_length=200, unique=True)
    status: str = Field(max_length=30, index=True)
    dry_run: bool = False
    scheduled_for: datetime | None = None
    plan: dict[str, Any] | None = _json()
    decisions: list[Any] | None = _json()
    outcome: dict[str, Any] | None = _json()
    created_at: datetime = Field(index=True)
    updated_at: datetime = Field(index=True)
    expires_at: datetime | None = None
    decided_at: datetime | None = None
    decided_by: str | None = Field(default=None, max_length=100)
    finished_at: datetime | None = None


class InvestorRow(SQLModel, table=True):
    """An investor (issue 13: investors are data). `search_name` is the lower-cased display name,
    so that searching is the same on both engines."""

    __tablename__ = "investors"
    id: str = Field(primary_key=True, max_length=64)
    display_name: str = Field(default="", max_length=200)
    search_name: str = Field(default="", max_length=200, index=True)
    status: str = Field(max_length=20, index=True)  # active | disabled
    created_at: datetime
    updated_at: datetime
    disabled_at: datetime | None = None


class InvestorAccountRow(SQLModel, table=True):
    """One account of one investor and the source that reads it (a string: kis, kiwoom,
    openbanking, ...). (source, external_ref) is unique; NULL refs (seeded accounts the source
    resolves by id) never collide."""

    __tablename__ = "investor_accounts"
    __table_args__ = (UniqueConstraint("source", "external_ref"),)
    id: str = Field(primary_key=True, max_length=64)
    investor_id: str = Field(foreign_key="investors.id", index=True, max_length=64)
    source: str = Field(max_length=40)
    institution: str = Field(default="", max_length=10)
    kind: str = Field(default="", max_length=20)
    external_ref: str | None = Field(default=None, max_length=64)
    masked_number: str = Field(default="", max_length=40)
    name: str = Field(default="", max_length=200)
    origin: str = Field(default="manual", max_length=20)
    enabled: bool = True
    overrides: dict[str, Any] | None = _json()
    created_at: datetime
    updated_at: datetime


class InstitutionCredentialRow(SQLModel, table=True):
    """An investor's credential at one institution (a KIS app key + secret + account). The
    secrets are one encrypted JSON blob; `fingerprint` (SHA-256 of the app key) keeps one key from
    being attached to two investors without storing the key in the clear."""

    __tablename__ = "institution_credentials"
    __table_args__ = (UniqueConstraint("investor_id", "institution"),)
    id: str = Field(primary_key=True, max_length=40)
    investor_id: str = Field(foreign_key="investors.id", index=True, max_length=64)
    institution: str = Field(max_length=40)
    env: str = Field(default="real", max_length=10)
    fingerprint: str = Field(max_length=64, unique=True)
    key_suffix: str = Field(default="", max_length=20)
    account_id: str | None = Field(default=None, max_length=64)
    ciphertext: str
    status: str = Field(default="active", max_length=20)
    created_at: datetime
    updated_at: datetime
