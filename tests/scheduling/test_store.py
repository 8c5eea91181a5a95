"""The claim table and pause switches on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from adapters.db.engine import Database
from adapters.db.jobs import DbJobRunStore
from orchestrator.domain.timeutil import KST
from orchestrator.ports.scheduling import ItemOutcome
from tests.support.databases import statements
from tests.support.fires import record_fire

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
    assert (run.done, run.failed, run.total) == (9, 3, 12)
    assert len(await store.items("j", T0, limit=100)) == 12
    assert run.status == "failed"
    assert run.error == "3 of 12 investors failed"
    # Finished when the last of them was recorded (whichever that was).
    assert run.finished_at in {T0 + timedelta(seconds=i) for i in range(12)}


async def _fanned(store: DbJobRunStore, key: datetime, investors: int) -> None:
    """A fire fanned out over `investors` tasks, each recorded (every third one failed)."""
    await record_fire(
        store,
        "fan",
        key,
        (
            ItemOutcome(
                investor=f"inv-{i:03d}",
                kind="reconcile",
                status="failed" if i % 3 == 0 else "succeeded",
                finished_at=key + timedelta(seconds=i),
                duration_ms=i,
                worker="w",
                detail=f"outcome {i}",
            )
            for i in range(investors)
        ),
        replica="a",
        engine="test",
    )


async def test_the_run_history_is_counts_read_without_touching_the_items(db: Database) -> None:
    """`runs` and `run` answer total/done/failed from the run row: not one statement reads
    the per-investor items, however many a fire has."""
    store = DbJobRunStore(db)
    await _fanned(store, T0, 30)
    with statements(db) as seen:
        (listed,) = await store.runs("fan", 10)
        one = await store.run("fan", T0.astimezone(KST))
    assert one is not None
    for run in (listed, one):
        assert (run.total, run.done, run.failed, run.status) == (30, 20, 10, "failed")
        assert run.engine == "test"
        assert not hasattr(run, "items")
        assert (run.matching(), run.matching("succeeded"), run.matching("failed")) == (30, 20, 10)
    assert seen, "the listener saw no statement: the check below would prove nothing"
    assert [s for s in seen if "job_run_items" in s] == []
    assert await store.run("fan", T0 + timedelta(seconds=1)) is None


async def test_a_runs_items_are_paged_and_filtered_by_the_database(db: Database) -> None:
    store = DbJobRunStore(db)
    await _fanned(store, T0, 25)
    await _fanned(store, T0 + timedelta(minutes=5), 3)  # another fire's items stay out

    with statements(db) as seen:
        pages = [await store.items("fan", T0, limit=10, offset=o) for o in (0, 10, 20)]
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [i.investor for p in pages for i in p] == [f"inv-{i:03d}" for i in range(25)]
    reads = [q.upper() for q in seen if "job_run_items" in q]
    assert len(reads) == 3  # one statement a page, each cut by the database
    assert all("LIMIT" in q and "OFFSET" in q for q in reads), reads

    first = pages[0][0]
    assert (first.status, first.detail, first.duration_ms, first.worker) == (
        "failed",
        "outcome 0",
        0,
        "w",
    )
    assert first.finished_at == T0
    failed = await store.items("fan", T0, limit=100, status="failed")
    assert [i.investor for i in failed] == [f"inv-{i:03d}" for i in range(0, 25, 3)]
    second = await store.items("fan", T0, limit=3, offset=3, status="succeeded")
    assert [i.investor for i in second] == ["inv-005", "inv-007", "inv-008"]
    assert await store.items("fan", T0, limit=10, offset=25) == []
    assert await store.items("fan", T0 + timedelta(seconds=1), limit=10) == []
    # The same instant written in Seoul time is the same fire.
    assert len(await store.items("fan", T0.astimezone(KST), limit=100)) == 25


async def test_an_items_detail_is_masked_before_it_is_stored(db: Database) -> None:
    """An outcome's detail quotes vendor errors: an account number in it never reaches the
    table whole (nor a reader)."""
    store = DbJobRunStore(db)
    assert await store.claim("j", T0, "a", started_at=T0)
    await store.set_total("j", T0, 1, engine="test")
    await store.record_item(
        "j",
        T0,
        ItemOutcome(
            investor="kim",
            kind="reconcile",
            status="failed",
            finished_at=T0,
            detail="kis: refused for account 12345678901234",
        ),
    )
    async with db.session() as session:
        (stored,) = (await session.execute(text("SELECT detail FROM job_run_items"))).scalars()
    assert "12345678901234" not in stored
    assert stored.startswith("kis: refused for account ")
    (read,) = await store.items("j", T0, limit=1)
    assert read.detail == stored
