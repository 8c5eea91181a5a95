"""The reconciliation run report: what one run found, as values (`ReconciliationReport`), as JSON
(`to_dict`, also what the store keeps) and as the text `orchestrator reconcile --once` prints.
Running a reconciliation lives in `services/reconcile.py`; this module only renders."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from orchestrator.domain.money import krw, to_money
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
    cash_tolerance: Decimal | None = None  # the difference allowed between the two


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
        "cash_tolerance": text_or_none(s.cash_tolerance),
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
                "price_source": v.price_source,
                "priced_at": iso_or_none(v.priced_at),
            }
            for v in p.positions
        ],
        "cash_total": str(p.cash_total),
        "securities_total": str(p.securities_total),
        "total": str(p.total),
        "stale_accounts": list(p.stale_accounts),
    }


def _krw(value: object) -> str:
    return krw(value)


def _kst(value: datetime | str | None) -> str:
    if value is None:
        return "-"
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    return to_kst(at).strftime("%Y-%m-%d %H:%M:%S KST")


def format_report(report: ReconciliationReport) -> str:
    """The human form printed by `orchestrator reconcile --once`."""
    return format_report_dict(report.to_dict())


def format_report_dict(report: Mapping[str, Any]) -> str:
    """The human form of a report's JSON (`to_dict`, also what the API's run detail holds), so
    the CLI prints the same text whether it ran the reconciliation or the service did. Every
    account line says why it is clean, broken or not judged; amounts are whole won with
    separators, times KST; each position is listed under its institution."""
    breaks: list[Mapping[str, Any]] = list(report.get("breaks") or [])
    resolved: list[Mapping[str, Any]] = list(report.get("resolved") or [])
    pending: list[Mapping[str, Any]] = list(report.get("pending") or [])
    new = sum(1 for b in breaks if b.get("new"))
    lines = [
        f"Reconciliation {report.get('run_id')} ({report.get('trigger')}) at "
        f"{_kst(report.get('started_at'))}: {str(report.get('status')).upper()} - "
        f"{len(breaks)} open ({new} new), {len(resolved)} resolved, {len(pending)} pending"
    ]
    sources: list[Mapping[str, Any]] = list(report.get("sources") or [])
    if sources:
        lines.append("Accounts:")
        lines.extend(
            f"  {s.get('user_id')}/{s.get('account_id')} via {s.get('source')}: "
            + _verdict(s, breaks, pending)
            for s in sources
        )
    if breaks:
        lines.append("Open breaks:")
        for b in breaks:
            lines.append(
                f"  {_break_mark(b)}{b.get('kind')} {b.get('user_id')}/{b.get('account_id')} "
                f"[{b.get('key')}]: {b.get('detail')}"
            )
    if resolved:
        lines.append("Resolved:")
        lines.extend(
            f"  {b.get('kind')} {b.get('user_id')}/{b.get('account_id')} [{b.get('key')}]"
            for b in resolved
        )
    if pending:
        lines.append("Too recent to judge:")
        lines.extend(
            f"  {p.get('user_id')}/{p.get('account_id')} {p.get('kind') or 'all'} "
            f"[{p.get('key') or '*'}]: {p.get('reason')}"
            for p in pending
        )
    for portfolio in report.get("portfolios") or []:
        lines.extend(_portfolio_lines(portfolio))
    for error in report.get("errors") or []:
        lines.append(f"Error: {error}")
    return "\n".join(lines)


def _break_mark(b: Mapping[str, Any]) -> str:
    if b.get("reopened"):
        return "REOPENED "
    if b.get("new"):
        return "NEW "
    if b.get("carried"):
        return "(not re-judged) "
    if b.get("status") == ACKNOWLEDGED:
        return "(acknowledged) "
    return ""


def _verdict(
    s: Mapping[str, Any], breaks: list[Mapping[str, Any]], pending: list[Mapping[str, Any]]
) -> str:
    """Why this account's line is clean, broken or not judged, with what was compared."""

    def mine(item: Mapping[str, Any]) -> bool:
        return (item.get("user_id"), item.get("account_id")) == (
            s.get("user_id"),
            s.get("account_id"),
        )

    field = s.get("cash_field") or "deposit"
    observed, expected = s.get("observed_cash"), s.get("expected_cash")
    compared = f"{field} {_krw(observed)}"
    if expected is not None:
        tolerance = s.get("cash_tolerance")
        within = "" if tolerance is None else f", tolerance {_krw(tolerance)}"
        compared += (
            f" vs expected {_krw(expected)} from the baseline of {_kst(s.get('baseline_at'))}"
        )
        if observed is not None:
            compared += f" (difference {_krw(to_money(observed) - to_money(expected))}{within})"
    extra = []
    if s.get("positions") is not None:
        extra.append(f"{s.get('positions')} position(s) compared")
    if s.get("transactions") is not None:
        extra.append(f"{s.get('transactions')} transaction(s) read")
    detail = compared + "".join(f"; {e}" for e in extra)
    if not s.get("ok"):
        return f"NOT JUDGED - reading failed: {s.get('error')}"
    kinds = sorted({str(b.get("kind")) for b in breaks if mine(b)})
    if kinds:
        return f"BROKEN - {', '.join(kinds)} (below); {detail}"
    waiting = [str(p.get("reason")) for p in pending if mine(p)]
    if waiting:
        return f"NOT JUDGED YET - {'; '.join(waiting)}; {detail}"
    if expected is None:
        accepted = "accepted as the baseline" if s.get("accepted") else "not kept as a baseline"
        return f"FIRST READING - nothing to compare yet, {accepted}; {detail}"
    return f"CLEAN - {detail}" + ("; accepted as the new baseline" if s.get("accepted") else "")


def _portfolio_lines(p: Mapping[str, Any]) -> list[str]:
    stale = p.get("stale_accounts") or []
    lines = [
        f"Portfolio of {p.get('user_id')}"
        + (f" (stale: {', '.join(stale)})" if stale else "")
        + ":"
    ]
    cash: Mapping[str, Any] = p.get("cash_by_institution") or {}
    securities: Mapping[str, Any] = p.get("securities_by_institution") or {}
    positions: list[Mapping[str, Any]] = list(p.get("positions") or [])
    for inst in sorted(
        set(cash) | set(securities) | {str(v.get("institution")) for v in positions}
    ):
        lines.append(
            f"  {inst}: cash {_krw(cash.get(inst))}, securities {_krw(securities.get(inst))}"
        )
        for v in positions:
            if str(v.get("institution")) != inst:
                continue
            at_cost = " (at cost)" if v.get("priced_at_cost") else ""
            if v.get("price_source"):
                at_cost = f" ({v.get('price_source')} price)"
            lines.append(
                f"    {v.get('symbol')} {v.get('name')} x{v.get('quantity')} "
                f"@ {_krw(v.get('price'))}{at_cost} = {_krw(v.get('market_value'))}"
            )
    lines.append(
        f"  total {_krw(p.get('total'))} (cash {_krw(p.get('cash_total'))}, "
        f"securities {_krw(p.get('securities_total'))})"
    )
    return lines
