"""BreakService on the real store (SQLite and PostgreSQL): acknowledge with a comment, resolve by
hand with a reason, both audited with the actor; what later runs do with such breaks."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from adapters.db.audit import DbAuditLog
from adapters.db.engine import Database
from orchestrator.domain.breaks import BreakStatus, Resolution
from orchestrator.domain.errors import InvalidRequest, NotFound, StateConflict
from orchestrator.domain.model import AuditEvent
from orchestrator.ports.reconciliation import ACTIVE, RESOLVED
from orchestrator.services.breaks import BreakService
from orchestrator.services.reconcile import format_report
from tests.reconciliation.test_service import World


async def _broken(w: World) -> int:
    await w.run()
    w.kis.balances["kis-main"] = Decimal(490_000)
    report = await w.run()
    (brk,) = report.breaks
    assert brk.id is not None
    return brk.id


async def test_acknowledge_is_audited_kept_by_runs_and_not_alerted_again(db: Database) -> None:
    w = World(db)
    service = BreakService(w.store, w.clock)
    break_id = await _broken(w)

    acked = await service.acknowledge(break_id, "fee dispute with KIS", "alice")
    later = await w.run()

    assert (acked.status, acked.acknowledged_by, acked.note) == (
        BreakStatus.ACKNOWLEDGED,
        "alice",
        "fee dispute with KIS",
    )
    (seen,) = later.breaks
    assert (seen.id, seen.status, seen.new) == (break_id, "acknowledged", False)
    assert "(acknowledged)" in format_report(later)
    assert len(w.notifier.sent) == 1  # only the opening alerted
    (event,) = [e for e in await DbAuditLog(db).recent() if e.subject == f"break:{break_id}"]
    assert (event.actor, event.action) == ("alice", "break.acknowledged")
    assert event.detail is not None
    assert event.detail["note"] == "fee dispute with KIS"
    assert (event.detail["from"], event.detail["to"]) == ("open", "acknowledged")
    assert [b.id for b in await w.store.breaks(status=ACTIVE)] == [break_id]


async def test_manual_resolution_is_audited_and_reopens_if_a_run_still_finds_it(
    db: Database,
) -> None:
    w = World(db)
    service = BreakService(w.store, w.clock)
    break_id = await _broken(w)

    fixed = await service.resolve_manually(break_id, "deposited the difference", "bob")
    assert (fixed.status, fixed.resolution, fixed.resolved_by) == (
        BreakStatus.RESOLVED,
        Resolution.MANUAL,
        "bob",
    )
    assert [b.id for b in await w.store.breaks(status=RESOLVED)] == [break_id]

    again = await w.run()  # the cash still differs: the fix did not take

    (seen,) = again.breaks
    assert (seen.id, seen.status, seen.reopened, seen.new) == (break_id, "open", True, True)
    assert "REOPENED" in format_report(again)
    assert len(w.notifier.sent) == 2  # opened, then reopened
    record = await service.get(break_id)
    assert (record.reopened, record.resolution) == (1, None)
    actions = [(e.actor, e.action) for e in await DbAuditLog(db).recent()]
    assert ("bob", "break.resolved_manually") in actions


async def test_a_break_that_cleared_and_comes_back_is_new(db: Database) -> None:
    w = World(db)
    first = await _broken(w)
    w.kis.balances["kis-main"] = Decimal(500_000)
    await w.run()
    w.kis.balances["kis-main"] = Decimal(480_000)
    report = await w.run()
    (brk,) = report.breaks
    assert brk.id != first
    assert brk.new
    assert not brk.reopened


async def test_refusals_name_what_to_do(db: Database) -> None:
    w = World(db)
    service = BreakService(w.store, w.clock)
    break_id = await _broken(w)
    with pytest.raises(NotFound):
        await service.acknowledge(break_id + 100, "x", "alice")
    with pytest.raises(InvalidRequest):
        await service.acknowledge(break_id, "   ", "alice")
    await service.resolve_manually(break_id, "fixed", "alice")
    with pytest.raises(StateConflict):
        await service.acknowledge(break_id, "too late", "alice")
    with pytest.raises(StateConflict):
        await service.resolve_manually(break_id, "again", "alice")
    # Refused actions leave no audit trace.
    actions = [e.action for e in await DbAuditLog(db).recent()]
    assert actions.count("break.resolved_manually") == 1
    assert "break.acknowledged" not in actions


async def test_a_stale_change_is_not_written(db: Database) -> None:
    """Compare-and-set: a decision taken on an old version (a run touched the break meanwhile)
    writes nothing, not even its audit row."""
    w = World(db)
    break_id = await _broken(w)
    old = await w.store.get_break(break_id)
    assert old is not None
    await w.run()  # keeps the break: version moves on
    stale = dataclasses.replace(old, status=BreakStatus.ACKNOWLEDGED, version=old.version + 1)
    event = AuditEvent(at=w.clock.now(), actor="x", action="break.acknowledged", subject="s")

    assert await w.store.save_break(stale, audit=event) is False
    current = await w.store.get_break(break_id)
    assert current is not None
    assert current.status is BreakStatus.OPEN
    assert all(e.subject != "s" for e in await DbAuditLog(db).recent())
