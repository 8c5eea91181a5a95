"""The runner: one run per fire, resume without duplicates, approval and expiry, logging."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from adapters.fake.workflows import SimulatedCrash
from orchestrator.domain.errors import OrderOutcomeUnknown, OrderRejected, SourceUnavailable
from orchestrator.domain.timeutil import KST
from orchestrator.ports.workflows import RunStatus
from orchestrator.workflows.plan import load_decisions, load_outcome
from orchestrator.workflows.runner import (
    ApprovalExpired,
    RunNotAwaitingApproval,
    RunNotFound,
)
from tests.workflows.env import OPEN, Env
from tests.workflows.support import catalog_from, dca

D = Decimal


async def test_the_same_fire_runs_once(env: Env, tmp_path: Path) -> None:
    """Running a fire again returns the existing run and sends nothing new."""
    runner = env.runner(dca(tmp_path))
    first = await runner.run("dca", scheduled_for=OPEN)

    again = await runner.run("dca", scheduled_for=OPEN)

    assert again.id == first.id
    assert again.status is RunStatus.SUCCEEDED
    assert len(env.orders.sends) == 2
    assert len(env.store.rows) == 1


async def test_crash_between_intent_and_send_resumes_without_a_duplicate(
    env: Env, tmp_path: Path
) -> None:
    """A crash after journaling, before sending: re-running the fire sends each order once."""
    runner = env.runner(dca(tmp_path))
    env.orders.crash_after_intent = True

    with pytest.raises(SimulatedCrash):
        await runner.run("dca", scheduled_for=OPEN)
    [stuck] = env.store.rows.values()
    assert stuck.status is RunStatus.EXECUTING
    assert env.orders.sends == []

    restarted = env.runner(dca(tmp_path))
    done = await restarted.run("dca", scheduled_for=OPEN)

    assert done.id == stuck.id
    assert done.status is RunStatus.SUCCEEDED
    keys = env.orders.sent_keys()
    assert sorted(keys) == sorted(set(keys))
    assert len(keys) == 2


async def test_crash_after_send_resumes_without_resending(env: Env, tmp_path: Path) -> None:
    """A crash after sending, before recording: the resume finds the order by key, no resend."""
    runner = env.runner(dca(tmp_path))
    env.orders.crash_after_send = True

    with pytest.raises(SimulatedCrash):
        await runner.run("dca", scheduled_for=OPEN)
    done = await runner.run("dca", scheduled_for=OPEN)

    assert done.status is RunStatus.SUCCEEDED
    assert [r.symbol for r in env.orders.sends] == ["005930", "069500"]
    assert [r.status for r in load_outcome(done.outcome).results] == ["sent", "sent"]


async def test_resume_interrupted_finishes_runs_left_executing(env: Env, tmp_path: Path) -> None:
    """At start-up, runs a crash left executing are finished, each order sent once."""
    runner = env.runner(dca(tmp_path))
    env.orders.crash_after_intent = True
    with pytest.raises(SimulatedCrash):
        await runner.run("dca", scheduled_for=OPEN)

    [done] = await env.runner(dca(tmp_path)).resume_interrupted()

    assert done.status is RunStatus.SUCCEEDED
    assert len(env.orders.sends) == 2


async def test_approval_expires_and_nothing_is_sent(env: Env) -> None:
    """Approving after the window closes marks the run expired and sends nothing."""
    runner = env.runner()
    run = await runner.run("monthly-dca-005930")
    env.advance(timedelta(hours=4))

    with pytest.raises(ApprovalExpired, match="nothing was sent"):
        await runner.approve(run.id, by="alice")

    stored = env.store.rows[run.id]
    assert stored.status is RunStatus.EXPIRED
    assert stored.finished_at is not None
    assert env.orders.sends == []
    with pytest.raises(RunNotAwaitingApproval):
        await runner.approve(run.id, by="alice")


async def test_expire_overdue_sweeps_stale_plans(env: Env) -> None:
    """The sweep expires only plans past their window."""
    runner = env.runner()
    old = await runner.run("monthly-dca-005930")
    env.advance(timedelta(hours=3))
    young = await runner.run("monthly-dca-005930")
    env.advance(timedelta(hours=1, seconds=1))

    expired = await runner.expire_overdue()

    assert [r.id for r in expired] == [old.id]
    assert env.store.rows[young.id].status is RunStatus.AWAITING_APPROVAL
    assert env.orders.sends == []


async def test_reject_sends_nothing(env: Env) -> None:
    """A rejected plan is final: nothing sent, approving it later is refused."""
    runner = env.runner()
    run = await runner.run("monthly-dca-005930")

    rejected = await runner.reject(run.id, by="bob", reason="not today")

    assert rejected.status is RunStatus.REJECTED
    assert rejected.decided_by == "bob"
    with pytest.raises(RunNotAwaitingApproval, match="rejected"):
        await runner.approve(run.id, by="alice")
    with pytest.raises(RunNotFound):
        await runner.reject("nope", by="bob")
    assert env.orders.sends == []


async def test_dry_run_plans_and_never_sends(env: Env, tmp_path: Path) -> None:
    """A dry run of an auto workflow plans orders but sends, reconciles and notifies nothing."""
    env.portfolio.kis_orderable = D(0)
    runner = env.runner()

    dry = await runner.run("kis-cash-buffer", dry_run=True)
    dry_dca = await env.runner(dca(tmp_path)).run("dca", dry_run=True)
    dry_rebalance = await runner.run("quarterly-rebalance-60-40", dry_run=True)

    assert {dry.status, dry_dca.status, dry_rebalance.status} == {RunStatus.PLANNED}
    assert env.orders.sends == []
    assert env.transfers.proposals == {}
    assert env.notifier.sent == []
    assert env.reconciler.runs == 0
    assert "not_run" in [d.outcome for d in load_decisions(dry_rebalance.decisions)]


async def test_dry_runs_do_not_consume_the_fire(env: Env, tmp_path: Path) -> None:
    """A dry run of a fire leaves the real run of that fire free to happen."""
    runner = env.runner(dca(tmp_path))

    await runner.run("dca", scheduled_for=OPEN, dry_run=True)
    real = await runner.run("dca", scheduled_for=OPEN)

    assert real.status is RunStatus.SUCCEEDED
    assert len(env.orders.sends) == 2


async def test_one_canonical_log_line_per_run(env: Env, tmp_path: Path) -> None:
    """Each run logs workflow.run_finished once, with the key figures and its run id."""
    with capture_logs() as logs:
        await env.runner(dca(tmp_path)).run("dca")

    [line] = [e for e in logs if e["event"] == "workflow.run_finished"]
    assert line["status"] == "succeeded"
    assert line["orders_sent"] == 2
    assert line["buy_notional"] == "635100"  # 4 × 71,100 + 10 × 35,070
    assert line["total_value"] == "20100000"
    assert line["kis_orderable"] == "1500000"
    assert line["workflow"] == "dca"
    assert line["run_id"] == "run0001"


async def test_rejected_and_unknown_orders(env: Env, tmp_path: Path) -> None:
    """A rejection fails the run; a lost reply is 'unknown' and counts towards the day's cap."""
    env.orders.errors["005930"] = OrderRejected("kis", "insufficient funds", code="APBK0952")
    env.orders.errors["069500"] = OrderOutcomeUnknown("kis", "read timeout")

    run = await env.runner(dca(tmp_path)).run("dca")

    results = load_outcome(run.outcome).results
    assert [r.status for r in results] == ["failed", "unknown"]
    assert run.status is RunStatus.FAILED
    assert "failed" in env.notifier.sent[-1].text
    assert await env.store.sent_notional_since(OPEN - timedelta(hours=1)) == D(350_700)


async def test_a_failed_portfolio_read_fails_the_run_before_anything_is_sent(
    env: Env, tmp_path: Path
) -> None:
    """No portfolio, no plan: the run fails and nothing is sent."""
    env.portfolio.fail = SourceUnavailable("openbanking", "timeout")

    run = await env.runner(dca(tmp_path)).run("dca")

    assert run.status is RunStatus.FAILED
    assert env.orders.sends == []


async def test_workflow_conditions_skip_the_run(env: Env, tmp_path: Path) -> None:
    """A workflow-level condition that does not hold skips the whole run."""
    text = (
        "workflows:\n  q:\n    when:\n      - month_in: [1, 4, 7, 10]\n"
        "      - kis_orderable_at_least: 100000\n"
        "    steps:\n      - step: notify\n        message: hi\n"
    )
    runner = env.runner(catalog_from(tmp_path, text))

    march = await runner.run("q", scheduled_for=OPEN)
    april = await runner.run("q", scheduled_for=datetime(2026, 4, 1, 10, tzinfo=KST))

    assert march.status is RunStatus.SKIPPED
    assert "month 3" in load_decisions(march.decisions)[0].detail
    assert april.status is RunStatus.SUCCEEDED
    assert [a.text for a in env.notifier.sent] == ["hi"]


async def test_step_conditions_use_earlier_steps(env: Env, tmp_path: Path) -> None:
    """reconcile_clean looks at this run's reconcile step."""
    text = (
        "workflows:\n  r:\n    steps:\n      - step: reconcile\n        stop_on_breaks: false\n"
        "      - step: notify\n        message: clean\n        when: [{reconcile_clean: true}]\n"
        "      - step: notify\n        message: dirty\n        when: [{reconcile_clean: false}]\n"
    )
    env.reconciler.breaks = 1

    run = await env.runner(catalog_from(tmp_path, text)).run("r")

    assert run.status is RunStatus.SUCCEEDED
    assert [a.text for a in env.notifier.sent] == ["dirty"]


async def test_unknown_schedule_is_refused(env: Env) -> None:
    """fire() with a schedule id that is not loaded raises KeyError."""
    with pytest.raises(KeyError):
        await env.runner().fire("nope", OPEN)


async def test_an_order_refused_while_orders_recover_fails_the_step_not_the_run_state(
    env: Env, tmp_path: Path
) -> None:
    """The order service's retryable OrdersNotReady (start-up recovery still running) ends the
    step failed and the run FAILED: it never stays EXECUTING."""
    from orchestrator.services.orders import OrdersNotReady

    env.orders.errors["005930"] = OrdersNotReady("order recovery running; retry later")
    run = await env.runner(dca(tmp_path)).run("dca", scheduled_for=OPEN)

    assert run.status is RunStatus.FAILED
    assert any("not sent" in r.detail for r in load_outcome(run.outcome).results)


async def test_a_deliberate_error_nobody_foresaw_still_finishes_the_run(
    env: Env, tmp_path: Path
) -> None:
    from orchestrator.domain.errors import ConfigError

    env.orders.errors["005930"] = ConfigError("surprise")
    run = await env.runner(dca(tmp_path)).run("dca", scheduled_for=OPEN)

    assert run.status is not RunStatus.EXECUTING
    assert run.finished_at is not None
