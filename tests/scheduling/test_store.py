"""The claim table and pause switches on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from adapters.db.engine import Database
from adapters.db.jobs import DbJobRunStore
from orchestrator.domain.timeutil import KST

T0 = datetime(2026, 6, 4, 1, 0, tzinfo=UTC)


async def test_a_fire_is_claimed_once(db: Database) -> None:
    store = DbJobRunStore(db)
    assert await store.claim("j", T0, "a", started_at=T0)
    assert not await store.claim("j", T0, "b", started_at=T0)
    # The same instant in another zone is the same key.
    assert not await store.claim("j", T0.astimezone(KST), "c", started_at=T0)
    # Another time, or another job, is another fire.
    assert await store.claim("j", T0 + timedelta(seconds=1), "b", started_at=T0)
    assert await store.claim("k", T0, "b", started_at=T0)
    runs = await store.runs("j", 10)
    assert [(r.scheduled_for, r.replica, r.status) for r in runs] == [
        (T0 + timedelta(seconds=1), "b", "running"),
        (T0, "a", "running"),
    ]
    assert len(await store.runs(None, 10)) == 3


async def test_latest_is_the_newest_run_of_each_job(db: Database) -> None:
    store = DbJobRunStore(db)
    assert await store.latest() == {}
    for job, seconds, replica in [("j", 0, "a"), ("j", 5, "b"), ("j", 3, "c"), ("k", 1, "d")]:
        assert await store.claim(job, T0 + timedelta(seconds=seconds), replica, started_at=T0)
    latest = await store.latest()
    assert {job: (r.scheduled_for, r.replica) for job, r in latest.items()} == {
        "j": (T0 + timedelta(seconds=5), "b"),
        "k": (T0 + timedelta(seconds=1), "d"),
    }


async def test_concurrent_claims_have_exactly_one_winner(db: Database) -> None:
    store = DbJobRunStore(db)
    results = await asyncio.gather(
        *(store.claim("race", T0, f"r{i}", started_at=T0) for i in range(8))
    )
    assert results.count(True) == 1
    (run,) = await store.runs("race", 10)
    assert run.replica == f"r{results.index(True)}"


async def test_finish_records_outcome(db: Database) -> None:
    store = DbJobRunStore(db)
    assert await store.claim("j", T0, "a", started_at=T0, manual=True, requested_by="kim")
    done = T0 + timedelta(seconds=2)
    await store.finish(
        "j", T0, status="failed", finished_at=done, duration_ms=2000, error="ValueError: boom"
    )
    (run,) = await store.runs("j", 1)
    assert (run.status, run.finished_at, run.duration_ms, run.error) == (
        "failed",
        done,
        2000,
        "ValueError: boom",
    )
    assert run.manual
    assert run.requested_by == "kim"
    assert run.started_at == T0
    assert run.scheduled_for.tzinfo is not None


async def test_pause_switch_is_persisted(db: Database) -> None:
    store = DbJobRunStore(db)
    assert not await store.is_paused("j")
    assert await store.states() == {}
    await store.set_paused("j", True, by="kim", at=T0)
    await store.set_paused("j", True, by="kim", at=T0)  # idempotent
    assert await DbJobRunStore(db).is_paused("j")
    state = (await store.states())["j"]
    assert (state.paused, state.updated_by, state.updated_at) == (True, "kim", T0)
    await store.set_paused("j", False, by="lee", at=T0 + timedelta(minutes=1))
    assert not await store.is_paused("j")
    assert (await store.states())["j"].updated_by == "lee"


async def test_concurrent_item_records_count_once_and_finish_the_fire_once(
    db: Database,
) -> None:
    """Twelve investors recorded at once, each twice (a duplicate delivery): every investor
    counts once, failures apart, and the last one finishes the fire exactly once."""
    from orchestrator.ports.scheduling import ItemOutcome

    store = DbJobRunStore(db)
    assert await store.claim("j", T0, "a", started_at=T0)
    await store.set_total("j", T0, 12, engine="test")

    def outcome(i: int) -> ItemOutcome:
        return ItemOutcome(
            investor=f"u{i:02d}",
            kind="reconcile",
            status="failed" if i % 4 == 0 else "succeeded",
            finished_at=T0 + timedelta(seconds=i),
            duration_ms=10,
            attempts=1,
            worker="w",
            detail=None,
        )

    results = await asyncio.gather(
        *(store.record_item("j", T0, outcome(i % 12)) for i in range(24))
    )
    assert results.count(True) == 12
    run = await store.run("j", T0)
    assert run is not None
    assert (run.done, run.failed, run.total, len(run.items)) == (9, 3, 12, 12)
    assert run.status == "failed"
    assert run.error == "3 of 12 investors failed"
    # Finished when the last of them was recorded (whichever that was).
    assert run.finished_at in {T0 + timedelta(seconds=i) for i in range(12)}
