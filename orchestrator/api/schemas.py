"""Declared response models of the operator API routes (the OpenAPI shows these schemas).

Times are ISO 8601 strings with their offset and money is exact decimal text, exactly as the
read side produces them (`adapters/db/queries.plain`), so declaring a model changes no reply.
Models allow extra fields: a column added later reaches the reply before its model names it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Iso = str  # ISO 8601 with offset
Money = str  # exact decimal text, KRW


class Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class RunOut(Out):
    """A reconciliation run."""

    id: str
    trigger: str
    started_at: Iso
    status: str
    break_count: int
    finished_at: Iso | None = None


class BreakOut(Out):
    """A reconciliation break and its life (domain/breaks.py)."""

    id: int
    user_id: str
    kind: str
    account_id: str
    key: str
    detail: str
    status: str
    first_run_id: str
    last_run_id: str
    first_seen_at: Iso
    last_seen_at: Iso
    expected: Money | None = None
    observed: Money | None = None
    resolved_at: Iso | None = None
    resolution: str | None = None
    acknowledged_at: Iso | None = None
    acknowledged_by: str | None = None
    resolved_by: str | None = None
    note: str | None = None
    reopened: int = 0


class RunDetailOut(RunOut):
    """A run with its report and every break it opened or saw."""

    report: dict[str, Any] | None = None
    breaks: list[BreakOut] = []


class PositionValueOut(Out):
    account_id: str
    institution: str
    symbol: str
    name: str
    quantity: int
    price: Money
    market_value: Money
    priced_at_cost: bool
    # Where the price came from ("stream": the real-time feed; "": the account read) and when.
    price_source: str = ""
    priced_at: Iso | None = None


class PortfolioOut(Out):
    """One user's consolidated portfolio from the newest finished run that has one."""

    run_id: str
    user_id: str
    # Optional: reports stored by older versions may lack a figure.
    as_of: Iso | None = None
    cash_by_institution: dict[str, Money] = {}
    securities_by_institution: dict[str, Money] = {}
    positions: list[PositionValueOut] = []
    cash_total: Money | None = None
    securities_total: Money | None = None
    total: Money | None = None
    stale_accounts: list[str] = []


class OrderOut(Out):
    """An order intent and what became of it."""

    id: str
    idempotency_key: str
    user_id: str
    account_id: str
    broker: str
    symbol: str
    side: str
    quantity: int
    order_type: str
    limit_price: Money | None = None
    state: str
    origin: str
    attempts: int
    broker_order_id: str | None = None
    filled_quantity: int
    avg_fill_price: Money | None = None
    reject_code: str | None = None
    last_error: str | None = None
    created_at: Iso
    updated_at: Iso
    cancel_state: str | None = None


class AuditOut(Out):
    """One link of the hash-chained audit log."""

    seq: int
    at: Iso
    actor: str
    action: str
    subject: str
    detail: dict[str, Any] | None = None
    prev_hash: str
    hash: str


class JobProgressOut(Out):
    """How far a fire fanned out per investor has got (counts, never the outcomes)."""

    total: int = Field(ge=0, description="Investor tasks the fire fanned out to.")
    done: int = Field(ge=0, description="Investors whose task succeeded.")
    failed: int = Field(ge=0, description="Investors whose task failed (after its retries).")


class JobRunOut(Out):
    """One claimed fire of a job (whichever replica ran it), with counts only: its
    per-investor outcomes are paged by `GET /api/v1/jobs/runs/{job_id}/{scheduled_for}`."""

    job_id: str
    scheduled_for: Iso
    replica: str
    status: str
    started_at: Iso
    finished_at: Iso | None = None
    duration_ms: int | None = None
    error: str | None = None
    manual: bool = False
    requested_by: str | None = None
    engine: str = Field(
        default="in-process",
        description="What ran the fire's investor tasks: `in-process` or `procrastinate`.",
    )
    progress: JobProgressOut | None = Field(
        default=None,
        description="Fan-out counts; null for a fire that ran as one piece.",
    )
    overran: bool = Field(
        default=False,
        description="The fire ended (or is still running) after its job's next fire time.",
    )


class JobRunItemOut(Out):
    """How one investor's task of a fanned-out fire ended."""

    investor: str = Field(description="The investor's id.")
    kind: str = Field(description="The task: reconcile, settle, workflow or tokens.")
    status: Literal["succeeded", "failed"]
    finished_at: Iso
    duration_ms: int = Field(ge=0)
    attempts: int = Field(ge=1, description="Attempts the task took (retries included).")
    worker: str = Field(description="The worker (replica) that recorded the outcome.")
    detail: str | None = Field(
        default=None, description="The outcome or the failure, masked like every stored text."
    )


class JobRunItemsPageOut(Out):
    """Which page of the run's outcomes `investors` holds."""

    limit: int
    offset: int
    status: Literal["succeeded", "failed"] | None = Field(
        default=None, description="The outcome filter, null for every outcome."
    )
    matching: int = Field(ge=0, description="Outcomes the filter matches, over every page.")
    next_offset: int | None = Field(
        default=None, description="`offset` of the next page; null on the last page."
    )


class JobRunDetailOut(JobRunOut):
    """One fire with its counts and one page of its per-investor outcomes, by investor id."""

    investors: list[JobRunItemOut]
    page: JobRunItemsPageOut


class JobOut(Out):
    """A scheduled job with its next fire time."""

    id: str
    action: str
    trigger: str
    trading_days_only: bool
    during_session_only: bool
    paused: bool
    next_fire_time: Iso | None = None
    misfire_grace_seconds: int | None = None
    coalesce: bool
    max_instances: int
    paused_by: str | None = None
    paused_at: Iso | None = None
    last_run: JobRunOut | None = None


class JobActionOut(Out):
    """The triggered run (trigger), or the job and the action taken (pause, resume)."""

    job_id: str
    action: str | None = None


class KillSwitchOut(Out):
    on: bool
    reason: str | None = None
    updated_at: Iso | None = None
    updated_by: str | None = None


class WorkflowOut(Out):
    """A loaded workflow, its guardrails and schedules."""

    name: str
    description: str
    user: str
    mode: str
    steps: list[dict[str, Any]]
    symbols: list[str]
    guardrails: dict[str, Any]
    schedules: list[dict[str, Any]]


class WorkflowRunOut(Out):
    """A workflow run with its plan, decisions, orders, outcome and key figures."""

    id: str
    workflow: str
    fire_key: str
    status: str
    dry_run: bool
    scheduled_for: Iso | None = None
    created_at: Iso | None = None
    updated_at: Iso | None = None
    expires_at: Iso | None = None
    decided_at: Iso | None = None
    decided_by: str | None = None
    finished_at: Iso | None = None
    figures: dict[str, Any] = {}
    plan: dict[str, Any] = {}
    decisions: list[dict[str, Any]] = []
    outcome: dict[str, Any] = {}
