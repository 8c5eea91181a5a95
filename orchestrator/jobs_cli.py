"""Text of `orchestrator jobs list | runs`, from the jobs API's JSON (the same mappings the
scheduler gives in-process), so both paths print the same thing. Times in KST."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from orchestrator.domain.timeutil import to_kst


def kst(value: object) -> str:
    """An ISO 8601 instant from the API (UTC offset) as a person in Seoul reads it."""
    if not value:
        return "-"
    at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return f"{to_kst(at):%Y-%m-%d %H:%M:%S} KST"


def format_jobs(jobs: Sequence[Mapping[str, Any]]) -> str:
    if not jobs:
        return "no jobs"
    lines = []
    for j in jobs:
        state = (
            f"PAUSED by {j.get('paused_by')}"
            if j.get("paused")
            else "next " + kst(j.get("next_fire_time"))
        )
        lines.append(f"{j['id']}  [{j.get('action')}]  {j.get('trigger')}; {state}")
        last = j.get("last_run")
        if last:
            lines.append(f"    last run {kst(last.get('started_at'))}: {_run_state(last)}")
    return "\n".join(lines)


def format_runs(runs: Sequence[Mapping[str, Any]]) -> str:
    if not runs:
        return "no runs"
    return "\n".join(
        f"{kst(r.get('scheduled_for'))}  {r.get('job_id')}  {_run_state(r)}"
        + (f"  (by {r.get('requested_by')})" if r.get("manual") else "")
        for r in runs
    )


def _run_state(run: Mapping[str, Any]) -> str:
    text = str(run.get("status"))
    if run.get("duration_ms") is not None:
        text += f" in {run['duration_ms']} ms"
    if run.get("error"):
        text += f": {run['error']}"
    return text
