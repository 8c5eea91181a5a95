"""The console's jobs page: fanned runs show their counts (done, failed, total) and link to a page
of the run listing its per-investor outcomes, a page at a time."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from adapters.db.jobs import DbJobRunStore
from orchestrator.ports.scheduling import ItemOutcome
from tests.support.fires import record_fire
from tests.web.conftest import VIEWER_KEY, Console, login

FIRE = datetime(2026, 6, 4, 7, 0, tzinfo=UTC)  # 16:00 in Seoul: the end-of-day reconciliation
INVESTORS = 60
ROW = re.compile(r'<tr data-investor="([^"]+)">')


def _href(job_id: str, scheduled_for: datetime) -> str:
    return f"/jobs/runs/{job_id}/{quote(scheduled_for.isoformat(), safe='')}"


async def _fanned(console: Console) -> str:
    """An end-of-day reconciliation fanned out to 60 investors, every fifth failed."""
    store = DbJobRunStore(console.container.db)
    await record_fire(
        store,
        "reconcile-eod",
        FIRE,
        (
            ItemOutcome(
                investor=f"inv-{i:03d}",
                kind="reconcile",
                status="failed" if i % 5 == 0 else "succeeded",
                finished_at=FIRE + timedelta(seconds=i),
                duration_ms=10,
                worker="replica-a",
                detail="openbanking: 503 from the relay" if i % 5 == 0 else "clean",
            )
            for i in range(INVESTORS)
        ),
    )
    return _href("reconcile-eod", FIRE)


async def test_the_jobs_page_shows_counts_and_links_each_run(console: Console) -> None:
    """The start-up reconciliation fanned out per demo investor: its row says how many are done
    and failed of how many, and links to its outcomes, one row per investor."""
    await login(console.client, VIEWER_KEY)
    assert console.container.scheduler is not None
    recon = next(r for r in await console.container.scheduler.runs() if r.total is not None)

    page = await console.client.get("/jobs")
    href = _href(recon.job_id, recon.scheduled_for)
    detail = await console.client.get(href)

    assert page.status_code == 200
    assert f"{recon.done} done, {recon.failed} failed of {recon.total}" in page.text
    assert f'href="{href}"' in page.text
    assert detail.status_code == 200
    users = sorted(u.id for u in console.container.settings.users)
    assert ROW.findall(detail.text) == users
    assert f"{recon.done} done, {recon.failed} failed of {recon.total}" in detail.text
    assert f'href="/investors/{users[0]}"' in detail.text


async def test_a_runs_outcomes_are_shown_a_page_at_a_time(console: Console) -> None:
    await login(console.client, VIEWER_KEY)
    href = await _fanned(console)

    jobs = await console.client.get("/jobs")
    first = await console.client.get(href)
    second = await console.client.get(href, params={"page": 2})

    assert "48 done, 12 failed of 60" in jobs.text
    assert f'href="{href}"' in jobs.text
    assert ROW.findall(first.text) == [f"inv-{i:03d}" for i in range(50)]
    assert f'href="{href}?page=2&amp;status="' in first.text  # the next page, same filter
    assert 'rel="prev"' not in first.text
    assert ROW.findall(second.text) == [f"inv-{i:03d}" for i in range(50, 60)]
    assert 'rel="next"' not in second.text
    assert 'rel="prev"' in second.text
    assert "60 recorded outcomes, showing 51–60" in second.text


async def test_the_outcome_filter_shows_only_the_failed(console: Console) -> None:
    await login(console.client, VIEWER_KEY)
    href = await _fanned(console)

    failed = await console.client.get(href, params={"status": "failed"})
    unknown = await console.client.get(href, params={"status": "bogus"})

    assert ROW.findall(failed.text) == [f"inv-{i:03d}" for i in range(0, INVESTORS, 5)]
    assert "openbanking: 503 from the relay" in failed.text
    assert "12 failed outcomes" in failed.text
    assert 'rel="next"' not in failed.text
    assert len(ROW.findall(unknown.text)) == 50  # an unknown filter is no filter (as /orders)


async def test_an_unknown_or_malformed_run_is_not_a_500(console: Console) -> None:
    await login(console.client, VIEWER_KEY)
    await _fanned(console)

    missing = await console.client.get(_href("reconcile-eod", FIRE + timedelta(days=1)))
    malformed = await console.client.get("/jobs/runs/reconcile-eod/yesterday")
    naive = await console.client.get("/jobs/runs/reconcile-eod/2026-06-04T07:00:00")

    assert missing.status_code == 404
    assert malformed.status_code == 422
    assert naive.status_code == 422


async def test_the_run_page_needs_a_session(console: Console) -> None:
    reply = await console.client.get(_href("reconcile-eod", FIRE))

    assert reply.status_code == 303
    assert reply.headers["location"].startswith("/login?next=")
