"""Text of `orchestrator consent …`, from the consent API's JSON or the adapter's status (the
same fields), so both paths print one line. Times in KST."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.jobs_cli import kst


def as_facts(status: Any) -> dict[str, Any]:
    """The adapter's ConsentStatus as the API's ConsentOut fields."""
    state = getattr(status, "state", None)
    return {
        "investor_id": status.user_id,
        "state": None if state is None else str(getattr(state, "value", state)),
        "scope": status.scope,
        "expires_at": status.expires_at,
        "days_left": status.days_left,
        "expiring": status.expiring,
        "pending": status.pending,
    }


def format_consent(facts: Mapping[str, Any]) -> str:
    who = facts.get("investor_id")
    if facts.get("state") is None:
        line = f"{who}: no consent (run `orchestrator consent start`)"
    else:
        line = f"{who}: {facts['state']}"
        if facts.get("scope"):
            line += f", scope {facts['scope']!r}"
        if facts.get("expires_at"):
            line += f", token expires {kst(facts['expires_at'])}"
            if facts.get("days_left") is not None:
                line += f" ({float(facts['days_left']):.0f} days left)"
        if facts.get("expiring"):
            line += ", EXPIRING: renew it"
    if facts.get("pending"):
        line += "; an authorization is pending (run `orchestrator consent finish`)"
    return line
