"""Gauges an operator is woken by (deploy/prometheus/alerts.yml), refreshed on each scrape.

The upstream layer counts requests as they happen; these are facts of state (open breaks, the last
good reconciliation, breakers, expiries, job outcomes, order recovery), so they are read from the
database and the process when Prometheus asks, not kept in step by every writer. Label values are
upstream names, job ids and secret purposes only: never an account number, token or name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Gauge

from orchestrator.ports.control import JobControl
from orchestrator.ports.queries import OperatorQueries

# A run that finished, whatever it found: "error" is the only failed reconciliation.
_RECONCILED = frozenset({"clean", "breaks", "pending"})
_SCAN = 500


def _ts(value: Any) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value).timestamp()
        except ValueError:
            return None
    return None


class OperationsMetrics:
    def __init__(self, registry: CollectorRegistry, *, namespace: str = "orchestrator") -> None:
        def gauge(name: str, doc: str, labels: Sequence[str] = ()) -> Gauge:
            return Gauge(name, doc, labels, namespace=namespace, registry=registry)

        self.breaks_open = gauge("breaks_open", "Reconciliation breaks currently open.")
        self.oldest_break_age = gauge(
            "breaks_oldest_open_age_seconds", "Age of the oldest open break (0 when none)."
        )
        self.last_reconciled = gauge(
            "reconciliation_last_success_timestamp_seconds",
            "When the newest reconciliation that finished (clean, breaks or pending) started.",
        )
        self.last_reconciliation_failed = gauge(
            "reconciliation_last_run_failed", "1 when the newest reconciliation run ended in error."
        )
        self.breaker_open = gauge(
            "circuit_breaker_open", "1 while the upstream's circuit breaker is open.", ["upstream"]
        )
        self.secret_expiry = gauge(
            "secret_expiry_timestamp_seconds",
            "When a stored token or consent expires, by purpose.",
            ["secret"],
        )
        self.job_failed = gauge(
            "job_last_run_failed", "1 when the job's newest finished run failed.", ["job"]
        )
        self.orders_ready = gauge(
            "orders_recovery_ready",
            "1 once start-up order recovery has finished; 0 while new orders are refused.",
        )

    async def refresh(
        self,
        queries: OperatorQueries,
        *,
        now: Callable[[], datetime],
        breaker_states: Callable[[], Mapping[str, str]],
        jobs: JobControl | None,
        orders_ready: Callable[[], bool | None],
    ) -> None:
        self.breaks_open.set(await queries.open_break_count())
        seen = [_ts(b.get("first_seen_at")) for b in await queries.breaks("open", _SCAN, 0)]
        oldest = min((t for t in seen if t is not None), default=None)
        self.oldest_break_age.set(0 if oldest is None else max(0.0, now().timestamp() - oldest))
        runs = await queries.reconciliations(50, 0)
        good = [_ts(r.get("started_at")) for r in runs if r.get("status") in _RECONCILED]
        self.last_reconciled.set(max((t for t in good if t is not None), default=0))
        finished = [r for r in runs if r.get("status") != "running"]
        self.last_reconciliation_failed.set(
            1 if finished and finished[0].get("status") == "error" else 0
        )
        for upstream, state in breaker_states().items():
            self.breaker_open.labels(upstream).set(1 if state == "open" else 0)
        for purpose, expires in (await queries.secret_expiries()).items():
            stamp = _ts(expires)
            if stamp is not None:
                self.secret_expiry.labels(purpose).set(stamp)
        if jobs is not None:
            latest: dict[str, str] = {}
            for run in await jobs.runs(None, _SCAN):
                job, status = str(run.get("job_id", "")), str(run.get("status", ""))
                if job and status in ("succeeded", "failed"):
                    latest.setdefault(job, status)
            for job, status in latest.items():
                self.job_failed.labels(job).set(1 if status == "failed" else 0)
        ready = orders_ready()
        if ready is not None:
            self.orders_ready.set(1 if ready else 0)
