"""The SQL store for runs and the kill switch, on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from adapters.db.audit import DbAuditLog
from adapters.db.engine import Database
from adapters.db.tables import AuditEventRow
from adapters.db.workflows import DbWorkflowStore
from adapters.fake import FakeClock
from adapters.fake.workflows import SimulatedCrash
from orchestrator.ports.workflows import KillSwitchState, RunDecision, RunStatus, WorkflowRun
from orchestrator.workflows.killswitch import KillSwitch
from orchestrator.workflows.runner import ApprovalExpired
from tests.workflows.env import OPEN, Env
from tests.workflows.support import dca

D = Decimal
T0 = datetime(2026, 3, 3, 1, 0, tzinfo=UTC)


def _run(i: int = 1, *, fire_key: str | None = None, **kw: object) -> WorkflowRun:
    values: dict[str, object] = {
        "id": f"r{i}",
        "workflow": "dca",
        "fire_key": fire_key or f"dca@{i}",
        "status": RunStatus.PLANNING,
        "created_at": T0 + timedelta(minutes=i),
        "updated_at": T0 + timedelta(minutes=i),
        "scheduled_for": T0,
    }
    values.update(kw)
    return WorkflowRun(**values)  # type: ignore[arg-type]


def _outcome(at: datetime, notional: str, status: str = "sent") -> dict[str, object]:
    return {"results": [{"n": 0, "status": status, "at": at.isoformat(), "notional": notional}]}


async def test_claim_is_unique_per_fire(db: Database) -> None:
    """Racing claimers of one fire key get one run between them; the rest see it."""
    store = DbWorkflowStore(db)

    results = await asyncio.gather(*(store.claim(_run(i, fire_key="dca@fire")) for i in range(5)))

    assert sum(created for _, created in results) == 1
    assert len({run.id for run, _ in results}) == 1


async def test_runs_round_trip_with_json_and_aware_times(db: Database) -> None:
    """Plan, decisions, outcome and datetimes come back as saved (UTC, aware)."""
    store = DbWorkflowStore(db)
    run, _ = await store.claim(_run())
    saved = replace(
        run,
        status=RunStatus.SUCCEEDED,
        plan={"workflow": "dca", "actions": []},
        decisions=({"step": "buy", "kind": "buy", "outcome": "planned", "detail": ""},),
        outcome=_outcome(T0, "284400"),
        finished_at=T0 + timedelta(minutes=5),
    )

    await store.save(saved)
    back = await store.get(run.id)

    assert back == saved
    assert back is not None
    assert back.finished_at is not None
    assert back.finished_at.tzinfo is not None


async def test_runs_list_newest_first_with_filters(db: Database) -> None:
    """Listing filters by workflow and status, newest first."""
    store = DbWorkflowStore(db)
    for i in range(3):
        await store.claim(_run(i, status=RunStatus.SUCCEEDED if i else RunStatus.FAILED))
    await store.claim(_run(9, workflow="other"))

    assert [r.id for r in await store.runs(workflow="dca")] == ["r2", "r1", "r0"]
    assert [r.id for r in await store.runs(status=RunStatus.FAILED)] == ["r0"]
    assert [r.id for r in await store.runs(limit=1, offset=1)] == ["r2"]


async def test_decisions_are_compare_and_set_and_audited(db: Database) -> None:
    """Of two racing approvals one wins; the decision is in the audit chain, which verifies."""
    store = DbWorkflowStore(db)
    await store.claim(_run(status=RunStatus.AWAITING_APPROVAL, expires_at=T0 + timedelta(hours=4)))
    at = T0 + timedelta(hours=1)

    moved = await asyncio.gather(
        store.decide("r1", RunDecision(RunStatus.EXECUTING, "alice", at)),
        store.decide("r1", RunDecision(RunStatus.REJECTED, "bob", at)),
    )

    winners = [m for m in moved if m is not None]
    assert len(winners) == 1
    assert winners[0].decided_at == at
    async with db.session() as s:
        actions = (await s.execute(select(AuditEventRow.action))).scalars().all()
    assert len(actions) == 1
    assert actions[0] in ("workflow.run_approved", "workflow.run_rejected")
    assert (await DbAuditLog(db).verify()).ok
    with pytest.raises(KeyError):
        await store.decide("nope", RunDecision(RunStatus.REJECTED, "bob", at))


async def test_an_expired_plan_cannot_be_approved(db: Database) -> None:
    """Approval at or after expires_at changes nothing; expiring it does."""
    store = DbWorkflowStore(db)
    expires = T0 + timedelta(hours=4)
    await store.claim(_run(status=RunStatus.AWAITING_APPROVAL, expires_at=expires))

    late = await store.decide("r1", RunDecision(RunStatus.EXECUTING, "alice", expires))
    due = await store.awaiting_until(expires)
    expired = await store.decide("r1", RunDecision(RunStatus.EXPIRED, "system", expires))

    assert late is None
    assert [r.id for r in due] == ["r1"]
    assert expired is not None
    assert expired.status is RunStatus.EXPIRED
    assert expired.finished_at == expires


async def test_sent_notional_counts_the_days_sent_orders(db: Database) -> None:
    """Orders sent (or maybe sent) since the cut-off count; older, failed and dry runs do not."""
    store = DbWorkflowStore(db)
    day = T0 - timedelta(hours=1)
    rows = [
        _run(1, outcome=_outcome(T0, "284400")),
        _run(2, outcome=_outcome(T0, "100000", "unknown")),
        _run(3, outcome=_outcome(T0, "999999", "failed")),
        _run(4, outcome=_outcome(T0, "999999"), dry_run=True),
        _run(5, outcome=_outcome(day - timedelta(hours=1), "999999")),
    ]
    for row in rows:
        await store.claim(row)

    assert await store.sent_notional_since(day) == D(384_400)


async def test_kill_switch_is_persisted_and_audited(db: Database) -> None:
    """Off by default; on/off changes persist with who and why, each in the audit chain."""
    store = DbWorkflowStore(db)
    switch = KillSwitch(store, FakeClock(T0))

    assert (await store.kill_switch()).on is False
    on = await switch.set(True, "broker incident", "alice")
    assert on["on"] is True
    assert on["updated_by"] == "alice"
    assert (await DbWorkflowStore(db).kill_switch()).reason == "broker incident"
    await switch.set(False, "resolved", "bob")

    async with db.session() as s:
        actions = (await s.execute(select(AuditEventRow.action))).scalars().all()
    assert actions == ["killswitch.engaged", "killswitch.released"]
    assert (await DbAuditLog(db).verify()).ok
    assert (await store.kill_switch()).on is False


async def test_set_kill_switch_needs_a_time(db: Database) -> None:
    """A change without updated_at is refused (the audit event needs it)."""
    with pytest.raises(ValueError, match="updated_at"):
        await DbWorkflowStore(db).set_kill_switch(KillSwitchState(on=True))


async def test_runner_on_the_database_resumes_a_crash_without_duplicates(
    db: Database, tmp_path: Path
) -> None:
    """On the SQL store, a crash between intent and send then a re-fire sends each order once."""
    env = Env()
    store = DbWorkflowStore(db)
    env.orders.crash_after_intent = True

    with pytest.raises(SimulatedCrash):
        await env.runner(dca(tmp_path), store=store).run("dca", scheduled_for=OPEN)
    done = await env.runner(dca(tmp_path), store=store).run("dca", scheduled_for=OPEN)

    assert done.status is RunStatus.SUCCEEDED
    assert len(env.orders.sends) == 2 == len(set(env.orders.sent_keys()))
    assert len(await store.runs()) == 1
    assert await store.sent_notional_since(OPEN - timedelta(hours=1)) == D(635_100)


async def test_runner_on_the_database_expires_unapproved_plans(db: Database) -> None:
    """End to end on the SQL store: an approval after the window closes sends nothing."""
    env = Env()
    store = DbWorkflowStore(db)
    runner = env.runner(store=store)
    run = await runner.run("monthly-dca-005930")
    env.advance(timedelta(hours=5))

    with pytest.raises(ApprovalExpired):
        await runner.approve(run.id, by="alice")

    stored = await store.get(run.id)
    assert stored is not None
    assert stored.status is RunStatus.EXPIRED
    assert env.orders.sends == []
