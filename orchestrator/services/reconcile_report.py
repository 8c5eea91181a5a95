"""The reconciliation run report: what one run found, as values (`ReconciliationReport`), as JSON
(`to_dict`, also what the store keeps) and as the text `orchestrator reconcile --once` prints.
Running a reconciliation lives in `services/reconcile.py`; this module only renders."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from orchestrator.domain.portfolio import Portfolio
from orchestrator.domain.reconciliation import CashField
from orchestrator.domain.timeutil import to_kst
from orchestrator.ports.reconciliation import ACKNOWLEDGED, BreakRecord

ReconcileStatus = Literal["running", "clean", "pending", "breaks", "error"]


@dataclass(frozen=True, slots=True)
class BreakView:
    """A break as a run report shows it. `new`: opened by this run; `carried`: open but not
    judged this run (its source failed or it is in flight)."""

    user_id: str
    kind: str
    account_id: str
    key: str
    detail: str
    status: str
    first_seen_at: datetime
    expected: Decimal | None = None
    observed: Decimal | None = None
    new: bool = False
    carried: bool = False
    resolved_at: datetime | None = None
    reopened: bool = False
    id: int | None = None
    acknowledged_by: str | None = None
    note: str | None = None

    @classmethod
    def of(
        cls,
        record: BreakRecord,
        *,
        new: bool = False,
        carried: bool = False,
        reopened: bool = False,
    ) -> BreakView:
        return cls(
            user_id=record.user_id,
            kind=record.kind,
            account_id=record.account_id,
            key=record.key,
            detail=record.detail,
            status=record.status,
            first_seen_at=record.first_seen_at,
            expected=record.expected,
            observed=record.observed,
            new=new,
            carried=carried,
            resolved_at=record.resolved_at,
            reopened=reopened,
            id=record.id,
            acknowledged_by=record.acknowledged_by,
            note=record.note,
        )


@dataclass(frozen=True, slots=True)
class SourceSummary:
    """One reading of one account in a run."""

    user_id: str
    account_id: str
    source: str
    taken_at: datetime
    ok: bool
    error: str | None = None
    cash_field: str = CashField.DEPOSIT.value
    deposit: Decimal | None = None
    orderable: Decimal | None = None
    withdrawable: Decimal | None = None
    positions: int | None = None
    transactions: int | None = None
    baseline_at: datetime | None = None
    expected_cash: Decimal | None = None
    observed_cash: Decimal | None = None
    accepted: bool = False


@dataclass(frozen=True, slots=True)
class PendingView:
    user_id: str
    account_id: str
    kind: str | None
    key: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class ReconciliationReport:
    """What one run found. `breaks`: every break open after the run (new, seen again, carried)."""

    run_id: str
    trigger: str
    status: ReconcileStatus
    started_at: datetime
    finished_at: datetime
    breaks: tuple[BreakView, ...] = ()
    resolved: tuple[BreakView, ...] = ()
    pending: tuple[PendingView, ...] = ()
    portfolios: tuple[Portfolio, ...] = ()
    sources: tuple[SourceSummary, ...] = ()
    accepted_users: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()

    @property
    def new_breaks(self) -> tuple[BreakView, ...]:
        return tuple(b for b in self.breaks if b.new)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form: Decimals as strings, datetimes as ISO 8601 (UTC)."""
        return {
            "run_id": self.run_id,
            "trigger": self.trigger,
            "status": self.status,
            "started_at": iso_or_none(self.started_at),
            "finished_at": iso_or_none(self.finished_at),
            "break_count": len(self.breaks),
            "new_break_count": len(self.new_breaks),
            "breaks": [_break_dict(b) for b in self.breaks],
            "resolved": [_break_dict(b) for b in self.resolved],
            "pending": [
                {
                    "user_id": p.user_id,
                    "account_id": p.account_id,
                    "kind": p.kind,
                    "key": p.key,
                    "reason": p.reason,
                }
                for p in self.pending
            ],
            "portfolios": [portfolio_dict(p) for p in self.portfolios],
            "sources": [_source_dict(s) for s in self.sources],
            "accepted_users": list(self.accepted_users),
            "errors": list(self.errors),
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent)


def iso_or_none(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def text_or_none(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _break_dict(b: BreakView) -> dict[str, object]:
    return {
        "user_id": b.user_id,
        "kind": b.kind,
        "account_id": b.account_id,
        "key": b.key,
        "detail": b.detail,
        "status": b.status,
        "expected": text_or_none(b.expected),
        "observed": text_or_none(b.observed),
        "first_seen_at": iso_or_none(b.first_seen_at),
        "resolved_at": iso_or_none(b.resolved_at),
        "new": b.new,
        "carried": b.carried,
        "reopened": b.reopened,
        "id": b.id,
        "acknowledged_by": b.acknowledged_by,
        "note": b.note,
    }


def _source_dict(s: SourceSummary) -> dict[str, object]:
    return {
        "user_id": s.user_id,
        "account_id": s.account_id,
        "source": s.source,
        "taken_at": iso_or_none(s.taken_at),
        "ok": s.ok,
        "error": s.error,
        "cash_field": s.cash_field,
        "deposit": text_or_none(s.deposit),
        "orderable": text_or_none(s.orderable),
        "withdrawable": text_or_none(s.withdrawable),
        "positions": s.positions,
        "transactions": s.transactions,
        "baseline_at": iso_or_none(s.baseline_at),
        "expected_cash": text_or_none(s.expected_cash),
        "observed_cash": text_or_none(s.observed_cash),
        "accepted": s.accepted,
    }


def portfolio_dict(p: Portfolio) -> dict[str, object]:
    """JSON-ready form of a consolidated portfolio (also what the store keeps in the report)."""
    return {
        "user_id": p.user_id,
        "as_of": iso_or_none(p.as_of),
        "cash_by_institution": {k: str(v) for k, v in p.cash_by_institution.items()},
        "securities_by_institution": {k: str(v) for k, v in p.securities_by_institution.items()},
        "positions": [
            {
                "account_id": v.account_id,
                "institution": v.institution,
                "symbol": v.symbol,
                "name": v.name,
                "quantity": v.quantity,
                "price": str(v.price),
                "market_value": str(v.market_value),
                "priced_at_cost": v.priced_at_cost,
            }
            for v in p.positions
        ],
        "cash_total": str(p.cash_total),
        "securities_total": str(p.securities_total),
        "total": str(p.total),
        "stale_accounts": list(p.stale_accounts),
    }


def _krw(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:,}"


def _kst(value: datetime | None) -> str:
    return "-" if value is None else to_kst(value).strftime("%Y-%m-%d %H:%M:%S KST")


def format_report(report: ReconciliationReport) -> str:
    """The human form printed by `orchestrator reconcile --once`."""
    lines = [
        f"Reconciliation {report.run_id} ({report.trigger}) at {_kst(report.started_at)}: "
        f"{report.status.upper()} - {len(report.breaks)} open "
        f"({len(report.new_breaks)} new), {len(report.resolved)} resolved, "
        f"{len(report.pending)} pending"
    ]
    if report.sources:
        lines.append("Sources:")
        for s in report.sources:
            state = "ok" if s.ok else f"FAILED: {s.error}"
            lines.append(
                f"  {s.user_id}/{s.account_id} via {s.source}: {state}; "
                f"{s.cash_field} observed {_krw(s.observed_cash)} "
                f"expected {_krw(s.expected_cash)}; baseline {_kst(s.baseline_at)}"
                + ("; accepted as new baseline" if s.accepted else "")
            )
    if report.breaks:
        lines.append("Open breaks:")
        for b in report.breaks:
            mark = (
                "REOPENED "
                if b.reopened
                else "NEW "
                if b.new
                else "(not re-judged) "
                if b.carried
                else "(acknowledged) "
                if b.status == ACKNOWLEDGED
                else ""
            )
            lines.append(f"  {mark}{b.kind} {b.user_id}/{b.account_id} [{b.key}]: {b.detail}")
    if report.resolved:
        lines.append("Resolved:")
        lines.extend(f"  {b.kind} {b.user_id}/{b.account_id} [{b.key}]" for b in report.resolved)
    if report.pending:
        lines.append("Too recent to judge:")
        lines.extend(
            f"  {p.user_id}/{p.account_id} {p.kind or 'all'} [{p.key or '*'}]: {p.reason}"
            for p in report.pending
        )
    for p in report.portfolios:
        stale = f" (stale: {', '.join(p.stale_accounts)})" if p.stale_accounts else ""
        lines.append(f"Portfolio of {p.user_id}{stale}:")
        for inst in sorted(p.cash_by_institution.keys() | p.securities_by_institution.keys()):
            lines.append(
                f"  {inst}: cash {_krw(p.cash_by_institution.get(inst))}, "
                f"securities {_krw(p.securities_by_institution.get(inst))}"
            )
        for v in p.positions:
            at_cost = " (at cost)" if v.priced_at_cost else ""
            lines.append(
                f"    {v.symbol} {v.name} x{v.quantity} @ {_krw(v.price)}{at_cost} = "
                f"{_krw(v.market_value)}"
            )
        lines.append(
            f"  total {_krw(p.total)} (cash {_krw(p.cash_total)}, "
            f"securities {_krw(p.securities_total)})"
        )
    lines.extend(f"error: {e}" for e in report.errors)
    return "\n".join(lines)
