"""The break lifecycle (orchestrator/domain/breaks.py): single transitions, and properties over
generated histories of runs and operator actions (hypothesis)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.domain import breaks as life
from orchestrator.domain.breaks import BreakRecord, BreakStatus, Resolution, decide_run
from orchestrator.domain.errors import InvalidRequest, StateConflict
from orchestrator.domain.model import Break, BreakKind
from orchestrator.domain.reconciliation import Pending
from tests.reconciliation.support import NOW

ACCOUNTS = ("kis-main", "samsung-cma")
KEYS = ("deposit", "005930")


def brk(account: str = "kis-main", key: str = "deposit", observed: int = 1) -> Break:
    return Break(
        kind=BreakKind.CASH_MISMATCH,
        account_id=account,
        key=key,
        detail=f"{key} differs",
        expected=Decimal(0),
        observed=Decimal(observed),
    )


def stored(record: BreakRecord, id: int = 1) -> BreakRecord:
    return dataclasses.replace(record, id=id)


def opened() -> BreakRecord:
    return stored(life.open_break(brk(), user_id="demo", run_id="r1", now=NOW))


def test_a_run_opens_keeps_then_clears_a_break() -> None:
    first = decide_run([], [brk()], [], user_id="demo", run_id="r1", now=NOW)
    (new,) = first.opened
    assert (new.status, new.first_run_id, new.version, new.id) == (BreakStatus.OPEN, "r1", 1, None)

    record = stored(new)
    later = NOW + timedelta(minutes=10)
    second = decide_run([record], [brk(observed=2)], [], user_id="demo", run_id="r2", now=later)
    (kept,) = second.kept
    assert (kept.observed, kept.last_run_id, kept.last_seen_at) == (Decimal(2), "r2", later)
    assert kept.version == 2
    assert kept.status is BreakStatus.OPEN

    third = decide_run([kept], [], [], user_id="demo", run_id="r3", now=later)
    (cleared,) = third.cleared
    assert cleared.status is BreakStatus.RESOLVED
    assert cleared.resolution is Resolution.CLEARED
    assert cleared.last_run_id == "r2"  # the last run that saw it
    assert cleared.resolved_at == later


def test_an_unjudged_break_is_carried_untouched() -> None:
    record = opened()
    pending = Pending("kis-main", "kis not read")
    decision = decide_run([record], [], [pending], user_id="demo", run_id="r2", now=NOW)
    assert decision.unjudged == (record,)
    assert decision.writes == ()


def test_acknowledged_stays_acknowledged_while_seen_and_clears_when_gone() -> None:
    ack = life.acknowledge(opened(), comment="  looking into it ", actor="ops", now=NOW)
    assert (ack.status, ack.note, ack.acknowledged_by) == (
        BreakStatus.ACKNOWLEDGED,
        "looking into it",
        "ops",
    )
    (kept,) = decide_run([ack], [brk()], [], user_id="demo", run_id="r2", now=NOW).kept
    assert kept.status is BreakStatus.ACKNOWLEDGED
    assert kept.acknowledged_by == "ops"
    (gone,) = decide_run([kept], [], [], user_id="demo", run_id="r3", now=NOW).cleared
    assert gone.resolution is Resolution.CLEARED


def test_a_manually_resolved_break_found_again_reopens_the_same_record() -> None:
    fixed = life.resolve_manually(opened(), reason="booked the fee by hand", actor="ops", now=NOW)
    assert (fixed.status, fixed.resolution, fixed.resolved_by) == (
        BreakStatus.RESOLVED,
        Resolution.MANUAL,
        "ops",
    )
    decision = decide_run(
        [],
        [brk()],
        [],
        user_id="demo",
        run_id="r2",
        now=NOW,
        manually_resolved={fixed.identity: fixed},
    )
    (again,) = decision.reopened
    assert decision.opened == ()
    assert (again.id, again.status, again.reopened, again.resolution) == (
        1,
        BreakStatus.OPEN,
        1,
        None,
    )


def test_a_cleared_break_that_comes_back_is_a_new_record() -> None:
    (gone,) = decide_run([opened()], [], [], user_id="demo", run_id="r2", now=NOW).cleared
    decision = decide_run(
        [], [brk()], [], user_id="demo", run_id="r3", now=NOW, manually_resolved={}
    )
    assert decision.reopened == ()
    assert [r.id for r in decision.opened] == [None]
    with pytest.raises(StateConflict):
        life.reopen(gone, brk(), run_id="r3", now=NOW)


@pytest.mark.parametrize(
    "action",
    [
        lambda r: life.acknowledge(r, comment="x", actor="ops", now=NOW),
        lambda r: life.resolve_manually(r, reason="x", actor="ops", now=NOW),
        lambda r: life.clear(r, now=NOW),
        lambda r: life.keep(r, brk(), run_id="r9", now=NOW),
    ],
)
def test_nothing_but_a_run_reopening_it_changes_a_resolved_break(action: object) -> None:
    resolved = life.resolve_manually(opened(), reason="fixed", actor="ops", now=NOW)
    with pytest.raises(StateConflict):
        action(resolved)  # type: ignore[operator]


@pytest.mark.parametrize(
    ("comment", "actor"), [("", "ops"), ("   ", "ops"), ("x" * 1001, "ops"), ("ok", " ")]
)
def test_operator_notes_and_actor_are_required_and_bounded(comment: str, actor: str) -> None:
    with pytest.raises(InvalidRequest):
        life.acknowledge(opened(), comment=comment, actor=actor, now=NOW)
    with pytest.raises(InvalidRequest):
        life.resolve_manually(opened(), reason=comment, actor=actor, now=NOW)


def test_a_break_cannot_change_identity() -> None:
    with pytest.raises(ValueError, match="does not belong"):
        life.keep(opened(), brk(key="005930"), run_id="r2", now=NOW)


# --- properties over generated histories ------------------------------------------------------

identities = st.tuples(st.sampled_from(ACCOUNTS), st.sampled_from(KEYS))
run_step = st.tuples(
    st.just("run"),
    st.frozensets(identities),  # found
    st.frozensets(st.sampled_from(ACCOUNTS)),  # accounts not read (unjudged)
)
operator_step = st.tuples(
    st.sampled_from(["ack", "resolve"]), identities, st.sampled_from(["fixed", "", "noted"])
)
histories = st.lists(st.one_of(run_step, operator_step), min_size=1, max_size=25)


class Store:
    """The smallest store: it keeps what the domain returns and assigns ids, nothing more."""

    def __init__(self) -> None:
        self.rows: dict[int, BreakRecord] = {}

    def put(self, record: BreakRecord) -> BreakRecord:
        if record.id is None:
            record = dataclasses.replace(record, id=len(self.rows) + 1)
        else:
            assert self.rows[record.id].version == record.version - 1  # compare-and-set
        self.rows[record.id] = record  # type: ignore[index]
        return record

    def active(self) -> list[BreakRecord]:
        return [r for r in self.rows.values() if r.active]

    def newest(self, identity: str) -> BreakRecord | None:
        found = [r for r in self.rows.values() if r.identity == identity]
        return max(found, key=lambda r: r.id or 0) if found else None


@settings(max_examples=300, deadline=None)
@given(histories)
def test_lifecycle_invariants_hold_over_any_history(history: list[tuple[object, ...]]) -> None:
    store = Store()
    now = NOW
    for n, step in enumerate(history):
        now += timedelta(minutes=5)
        before = {i: dataclasses.replace(r) for i, r in store.rows.items()}
        if step[0] == "run":
            _, found_ids, unread = step
            found = [brk(a, k) for a, k in sorted(found_ids) if a not in unread]  # type: ignore[call-overload]
            pending = [Pending(a, "not read") for a in sorted(unread)]  # type: ignore[call-overload]
            manual = {}
            for b in found:
                newest = store.newest(b.identity)
                if newest is not None and not newest.active:
                    manual[b.identity] = newest
            decision = decide_run(
                store.active(),
                found,
                pending,
                user_id="demo",
                run_id=f"r{n}",
                now=now,
                manually_resolved=manual,
            )
            for record in decision.writes:
                store.put(record)
            active = {r.identity: r for r in store.active()}
            for b in found:
                # Found -> active, with the run's figures.
                assert b.identity in active
                assert active[b.identity].last_run_id == f"r{n}"
            for identity, old in before.items():
                new = store.rows[identity]
                if not old.active:
                    # A resolved record changes only by reopening, and only if resolved by hand.
                    assert new == old or (
                        old.resolution is Resolution.MANUAL and new.reopened == old.reopened + 1
                    )
                elif old.account_id in unread:
                    assert new == old  # unjudged: untouched
                elif old.identity not in {b.identity for b in found}:
                    assert new.resolution is Resolution.CLEARED  # judged and gone
                elif old.status is BreakStatus.ACKNOWLEDGED:
                    assert new.status is BreakStatus.ACKNOWLEDGED  # keep never un-acknowledges
        else:
            action, (account, key), note = step  # type: ignore[misc]
            target = next(
                (r for r in store.active() if (r.account_id, r.key) == (account, key)), None
            )
            if target is None:
                continue
            try:
                if action == "ack":
                    changed = life.acknowledge(target, comment=note, actor="ops", now=now)
                    assert changed.status is BreakStatus.ACKNOWLEDGED
                else:
                    changed = life.resolve_manually(target, reason=note, actor="ops", now=now)
                    assert changed.resolution is Resolution.MANUAL
            except InvalidRequest:
                assert note == ""
                continue
            store.put(changed)
        # Always: one active record per identity, versions only grow, ids never reused.
        identities_active = [r.identity for r in store.active()]
        assert len(identities_active) == len(set(identities_active))
        for i, old in before.items():
            assert store.rows[i].version >= old.version
            assert store.rows[i].first_seen_at == old.first_seen_at
        for r in store.rows.values():
            assert (r.status is BreakStatus.RESOLVED) == (r.resolution is not None)
