"""ReconcileService on the real store (SQLite and PostgreSQL), with in-test sources and an injected
clock: breaks open once, alert once, update, resolve; failures become stale_source breaks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import count

import pytest
import structlog.testing

from adapters.db.engine import Database
from adapters.db.reconciliation import DbJournalReader, DbReconciliationStore
from adapters.db.tables import FillRow, OrderIntentRow, TransferRow
from adapters.fake import FakeClock, FakeNotifier
from orchestrator.domain.alerts import Alert, Severity
from orchestrator.domain.errors import ConfigError
from orchestrator.domain.model import (
    AccountKind,
    AccountRef,
    Break,
    BreakKind,
    Direction,
    Institution,
    OrderState,
    Quote,
    Side,
)
from orchestrator.domain.reconciliation import RecordedTransfer
from orchestrator.ports.reconciliation import OPEN, RESOLVED, AccountLedger, LedgerWindow
from orchestrator.services.reconcile import (
    ReconcileService,
    ReconciliationSettings,
    format_report,
)
from tests.reconciliation.support import (
    KIS,
    NOW,
    SAMSUNG,
    FakeOrderList,
    FakeSource,
    broker_order,
    down,
    tx,
)

SETTINGS = ReconciliationSettings.model_validate(
    {
        "too_recent_seconds": 120,
        "transfer_match_window_seconds": 3600,
        "fee_tolerance_rate": "0",
        "accounts": [
            {
                "user": "demo",
                "account": "samsung-cma",
                "source": "openbanking",
                "positions": False,
                "transactions": True,
                "transfers_to": "kis-main",
            },
            {"user": "demo", "account": "kis-main", "source": "kis", "orders": "kis"},
        ],
    }
)


class World:
    """The service wired to in-test sources, the real store and a fake clock."""

    def __init__(
        self,
        db: Database,
        settings: ReconciliationSettings = SETTINGS,
        live_prices: Callable[[], Mapping[str, Quote]] | None = None,
    ) -> None:
        self.clock = FakeClock(NOW)
        self.samsung = FakeSource(
            "openbanking", [SAMSUNG], balances={"samsung-cma": Decimal(1_000_000)}, clock=self.clock
        )
        self.kis = FakeSource(
            "kis",
            [KIS],
            balances={"kis-main": Decimal(500_000)},
            holdings={"kis-main": {"005930": 10}},
            clock=self.clock,
        )
        self.orders = FakeOrderList()
        self.notifier = FakeNotifier()
        self.store = DbReconciliationStore(db)
        self.journal = DbJournalReader(db)
        ids = count(1)
        self.service = ReconcileService(
            settings=settings,
            sources={"openbanking": self.samsung, "kis": self.kis},
            order_sources={"kis": self.orders},
            store=self.store,
            journal=self.journal,
            notifier=self.notifier,
            clock=self.clock,
            new_id=lambda: f"run-{next(ids)}",
            live_prices=live_prices,
        )

    async def run(self, minutes: float = 10):
        self.clock.advance(minutes * 60)
        return await self.service.run_once("test")


async def test_cash_change_behind_our_back_opens_one_break_alerts_once_then_resolves(
    db: Database,
) -> None:
    """A KIS deposit change nobody recorded: one open break, one alert, updated, then resolved."""
    w = World(db)
    first = await w.run()
    w.kis.balances["kis-main"] = Decimal(490_000)

    broken = await w.run()
    still = await w.run()
    w.kis.balances["kis-main"] = Decimal(500_000)
    healed = await w.run()

    assert first.status == "clean"
    assert first.accepted_users == ("demo",)
    assert broken.status == "breaks"
    assert [(b.kind, b.key, b.new) for b in broken.breaks] == [("cash_mismatch", "deposit", True)]
    assert [(b.kind, b.new) for b in still.breaks] == [("cash_mismatch", False)]
    assert len(w.notifier.sent) == 1
    assert w.notifier.sent[0].key == "reconcile:demo:cash_mismatch:kis-main:deposit"
    assert healed.status == "clean"
    assert [b.kind for b in healed.resolved] == ["cash_mismatch"]
    rows = await w.store.breaks(status=None)
    assert len(rows) == 1
    (row,) = rows
    assert row.status == RESOLVED
    assert (row.first_run_id, row.last_run_id) == ("run-2", "run-3")
    assert row.first_seen_at < row.last_seen_at < row.resolved_at  # type: ignore[operator]
    assert row.expected == Decimal(500_000)
    assert row.observed == Decimal(490_000)


async def test_failing_source_leaves_stale_source_and_keeps_unjudged_breaks_open(
    db: Database,
) -> None:
    """SourceUnavailable -> stale_source break; an open cash break is not resolved while unread."""
    w = World(db)
    await w.run()
    w.kis.balances["kis-main"] = Decimal(1)
    await w.run()
    w.kis.fail = down("kis")

    stale = await w.run()
    w.kis.fail = None
    w.kis.balances["kis-main"] = Decimal(500_000)
    healed = await w.run()

    kinds = {(b.kind, b.carried) for b in stale.breaks}
    assert kinds == {("stale_source", False), ("cash_mismatch", True)}
    assert stale.resolved == ()
    assert [s.ok for s in stale.sources] == [True, False]
    assert "503" in (stale.sources[1].error or "")
    assert stale.accepted_users == ()
    assert {b.kind for b in healed.resolved} == {"stale_source", "cash_mismatch"}
    assert len(w.notifier.sent) == 2


async def test_reconciliation_reads_are_fresh(db: Database) -> None:
    """Every cash and positions read asks for fresh=True (no cache)."""
    w = World(db)

    await w.run()

    reads = w.samsung.reads + w.kis.reads
    assert {kind for kind, _, _ in reads} == {"cash", "positions", "transactions"}
    assert all(fresh for _, _, fresh in reads)


async def test_operator_accepts_a_run_as_baseline_after_a_legitimate_change(db: Database) -> None:
    """A hand-made deposit breaks until the operator accepts that run; then the break resolves."""
    w = World(db)
    await w.run()
    w.kis.balances["kis-main"] = Decimal(550_000)
    broken = await w.run()

    accepted = await w.service.accept_baseline(broken.run_id, user_id="demo")
    after = await w.run()

    assert accepted == 2
    assert after.status == "clean"
    assert [b.kind for b in after.resolved] == ["cash_mismatch"]


async def test_one_failing_user_does_not_stop_the_others(db: Database) -> None:
    """A source bug is one user's stale_source, a crash one user's error; the others still run."""
    settings = ReconciliationSettings.model_validate(
        {
            "accounts": [
                {"user": "alice", "account": "a-kis", "source": "kis"},
                {"user": "bob", "account": "b-kis", "source": "kis"},
                {"user": "carol", "account": "c-kis", "source": "kis"},
            ]
        }
    )
    w = World(db, settings)
    refs = [
        AccountRef(u, f"{u[0]}-kis", Institution.KIS, AccountKind.BROKERAGE, f"{u}-ref")
        for u in ("alice", "bob", "carol")
    ]
    w.kis.refs = refs
    w.kis.balances = {"b-kis": Decimal(7), "c-kis": Decimal(9)}  # alice's read raises KeyError

    class Journal(DbJournalReader):
        async def transfers_since(
            self, user_id: str, since: datetime
        ) -> Sequence[RecordedTransfer]:
            if user_id == "carol":
                raise RuntimeError("journal exploded")
            return await super().transfers_since(user_id, since)

    w.service._journal = Journal(db)

    report = await w.run()

    assert report.status == "error"
    assert [b.user_id for b in report.breaks] == ["alice"]
    assert report.breaks[0].kind == "stale_source"
    assert "KeyError" in report.breaks[0].detail
    assert report.accepted_users == ("bob",)
    assert report.errors == ("carol: RuntimeError: journal exploded",)
    assert (await w.store.run(report.run_id)).status == "error"  # type: ignore[union-attr]


async def test_one_investors_task_reads_only_that_investors_accounts(db: Database) -> None:
    """A fire's task for bob asks the mapping for bob's accounts only (never the whole list,
    which grows with every investor), reconciles them, and a second run of the same attempt
    reads nothing again."""
    from orchestrator.services.reconcile import ReconciledAccountSettings, StaticAccounts

    settings = ReconciliationSettings.model_validate(
        {
            "accounts": [
                {"user": u, "account": f"{u[0]}-kis", "source": "kis"}
                for u in ("alice", "bob", "carol")
            ]
        }
    )

    asked: list[str | None] = []

    class Mapping(StaticAccounts):
        async def reconciled_accounts(
            self, user_id: str | None = None
        ) -> tuple[ReconciledAccountSettings, ...]:
            asked.append(user_id)
            return await super().reconciled_accounts(user_id)

    w = World(db, settings)
    w.kis.refs = [
        AccountRef(u, f"{u[0]}-kis", Institution.KIS, AccountKind.BROKERAGE, f"{u}-ref")
        for u in ("alice", "bob", "carol")
    ]
    w.kis.balances = {"a-kis": Decimal(1), "b-kis": Decimal(7), "c-kis": Decimal(9)}
    mapping = Mapping(settings.accounts)
    w.service._mapping = mapping

    assert await w.service.reconcile_investor("bob", key="fire-1") == "clean"
    assert asked == ["bob"]
    assert len(await w.store.runs()) == 1
    snapshots = await w.store.latest_snapshots(["a-kis", "b-kis", "c-kis"])
    assert set(snapshots) == {"b-kis"}
    assert await w.service.reconcile_investor("bob", key="fire-1") == "clean"
    assert len(await w.store.runs()) == 1
    with pytest.raises(ConfigError, match="dave"):
        await w.service.reconcile_investor("dave", key="fire-1")


async def test_an_attempt_left_running_is_carried_on_and_earlier_ones_closed(
    db: Database,
) -> None:
    """A task attempt whose run a dead worker left `running` is carried on under its own id
    when the same attempt is delivered again; at a later attempt, an earlier one left running
    is closed as abandoned (error) and the new attempt has its own run."""
    from orchestrator.services.reconcile import task_run_id

    w = World(db)
    left = task_run_id("fire-1", "demo", 0)
    assert await w.store.start_run(left, trigger="job:x", started_at=NOW)
    assert not await w.store.start_run(left, trigger="job:x", started_at=NOW)

    again = await w.service.reconcile_investor("demo", key="fire-1", attempt=0)
    second = task_run_id("fire-2", "demo", 1)
    await w.store.start_run(task_run_id("fire-2", "demo", 0), trigger="job:x", started_at=NOW)
    later = await w.service.reconcile_investor("demo", key="fire-2", attempt=1)

    assert again == "clean"
    assert await w.store.run_status(left) == "clean"
    assert len(await w.store.latest_snapshots(["samsung-cma", "kis-main"])) == 2
    assert later == "clean"
    assert await w.store.run_status(task_run_id("fire-2", "demo", 0)) == "error"
    assert await w.store.run_status(second) == "clean"


async def _filled_order(
    db: Database,
    intent_id: str,
    account_id: str,
    symbol: str,
    side: str,
    quantity: int,
    price: int,
    *,
    broker_order_id: str,
    limit: bool,
    created_at: datetime,
    filled_at: datetime,
) -> None:
    """An intent filled whole at `price`, with its one fill row."""
    async with db.session() as s:
        s.add(
            OrderIntentRow(
                id=intent_id,
                idempotency_key=f"wf:{intent_id}:{side}",
                user_id="demo",
                account_id=account_id,
                broker="kis",
                symbol=symbol,
                side=side,
                quantity=quantity,
                order_type="limit" if limit else "market",
                limit_price=Decimal(price) if limit else None,
                state=OrderState.FILLED.value,
                broker_order_id=broker_order_id,
                filled_quantity=quantity,
                created_at=created_at,
                updated_at=filled_at,
            )
        )
        await s.flush()
        s.add(
            FillRow(
                intent_id=intent_id,
                account_id=account_id,
                symbol=symbol,
                side=side,
                quantity=quantity,
                cumulative_quantity=quantity,
                price=Decimal(price),
                filled_at=filled_at,
            )
        )


async def _journal_rows(db: Database, at: datetime) -> None:
    await _filled_order(
        db,
        "i-1",
        "kis-main",
        "005930",
        "buy",
        5,
        70_000,
        broker_order_id="0000042",
        limit=True,
        created_at=at,
        filled_at=at,
    )
    async with db.session() as s:
        s.add(
            TransferRow(
                id="tr-1",
                idempotency_key="wf:1:fund",
                user_id="demo",
                from_account_id="samsung-cma",
                to_account_id="kis-main",
                amount=Decimal(400_000),
                state="succeeded",
                requested_at=at,
                completed_at=at,
                updated_at=at,
            )
        )


async def test_journal_fills_orders_and_transfers_build_the_expected_book(db: Database) -> None:
    """Our recorded fill, order and transfer explain every move at both institutions: no break."""
    w = World(db)
    await w.run()
    at = w.clock.now() + timedelta(minutes=1)
    await _journal_rows(db, at)
    w.samsung.history["samsung-cma"] = [tx(SAMSUNG, "T1", 400_000, at=at)]
    w.samsung.balances["samsung-cma"] = Decimal(600_000)
    w.kis.balances["kis-main"] = Decimal(500_000 + 400_000 - 350_000)
    w.kis.holdings["kis-main"] = {"005930": 15}
    w.orders.orders = [
        broker_order("0000042", quantity=5, filled=5, state=OrderState.FILLED, at=at)
    ]

    report = await w.run(minutes=30)

    assert report.breaks == ()
    assert report.status == "clean"
    kis = next(s for s in report.sources if s.account_id == "kis-main")
    assert kis.expected_cash == kis.observed_cash == Decimal(550_000)


async def test_order_the_broker_holds_without_intent_is_unknown_order(db: Database) -> None:
    """A broker order we never decided is an unknown_order, alerted as critical."""
    w = World(db)
    await w.run()
    w.orders.orders = [broker_order("0000077", at=w.clock.now())]

    report = await w.run()

    assert [b.kind for b in report.breaks] == ["unknown_order"]
    assert w.notifier.sent[0].severity is Severity.CRITICAL


async def test_transfer_waits_inside_window_then_breaks_unmatched(db: Database) -> None:
    """A Samsung OUT with no KIS arrival is pending inside the window, unmatched after it."""
    w = World(db)
    await w.run()
    left = w.clock.now() + timedelta(minutes=1)
    w.samsung.history["samsung-cma"] = [tx(SAMSUNG, "T9", 200_000, at=left)]
    w.samsung.balances["samsung-cma"] = Decimal(800_000)

    waiting = await w.run(minutes=10)
    late = await w.run(minutes=60)
    w.kis.balances["kis-main"] = Decimal(700_000)
    arrived = await w.run(minutes=1)

    assert waiting.status == "pending"
    assert waiting.breaks == ()
    assert waiting.accepted_users == ()
    assert [(b.kind, b.key) for b in late.breaks] == [("unmatched_transfer", "tx:T9")]
    assert arrived.status == "clean"
    assert [b.key for b in arrived.resolved] == ["tx:T9"]


async def test_report_is_stored_and_queryable(db: Database) -> None:
    """The run report (JSON form, portfolio) is stored with the run and read back by queries."""
    w = World(db)
    report = await w.run()

    stored = await w.store.run(report.run_id)
    listed = await w.store.runs(limit=5)
    last = await w.store.last_run()
    portfolio = await w.store.portfolio("demo")

    assert json.loads(report.to_json()) == report.to_dict()
    assert stored is not None
    assert stored.report == report.to_dict()
    assert [r.id for r in listed] == [report.run_id]
    assert listed[0].report is None
    assert last is not None
    assert last.status == "clean"
    assert portfolio is not None
    assert portfolio["cash_by_institution"] == {"kis": "500000", "samsung_securities": "1000000"}
    assert portfolio["total"] == str(500_000 + 1_000_000 + 10 * 70_000)
    text = format_report(report)
    assert "CLEAN" in text
    assert "total 2,200,000" in text


async def test_portfolio_falls_back_to_last_good_reading_of_a_failed_source(db: Database) -> None:
    """A source down this run still counts in the portfolio, from its last reading, marked stale."""
    w = World(db)
    await w.run()
    w.samsung.fail = down("openbanking")

    report = await w.run()

    (p,) = report.portfolios
    assert p.stale_accounts == ("samsung-cma",)
    assert p.cash_by_institution["samsung_securities"] == Decimal(1_000_000)


async def test_failing_notifier_does_not_fail_the_run(db: Database) -> None:
    """Notifiers must not raise; if one does, the break is still recorded and the run finishes."""
    w = World(db)

    class Broken:
        async def notify(self, alert: Alert) -> None:
            raise RuntimeError("webhook down")

    w.service._notifier = Broken()
    w.kis.fail = down()

    report = await w.run()

    assert report.status == "breaks"
    assert len(await w.store.breaks()) == 1


async def test_concurrent_runs_never_open_the_same_break_twice(db: Database) -> None:
    """Two runs racing to open one identity leave exactly one open row."""
    store = DbReconciliationStore(db)
    brk = Break(kind=BreakKind.CASH_MISMATCH, account_id="kis-main", key="deposit", detail="x")
    for run_id in ("r1", "r2"):
        await store.start_run(run_id, trigger="t", started_at=NOW)

    results = await asyncio.gather(
        *(
            store.apply_breaks(
                r, user_id="demo", account_ids=["kis-main"], found=[brk], unjudged=[], now=NOW
            )
            for r in ("r1", "r2")
        )
    )

    assert sum(len(c.opened) for c in results) == 1
    assert sum(len(c.still_open) for c in results) == 1
    assert len(await store.breaks(status=OPEN)) == 1


async def test_snapshots_round_trip_as_baseline(db: Database) -> None:
    """An accepted reading comes back as the same cash, positions and transactions."""
    w = World(db)
    w.samsung.history["samsung-cma"] = [
        tx(SAMSUNG, "T1", 5, at=NOW - timedelta(days=1), direction=Direction.IN)
    ]
    report = await w.run()

    baselines = await w.store.accepted_snapshots(["samsung-cma", "kis-main", "nope"])

    assert report.status == "clean"
    assert set(baselines) == {"samsung-cma", "kis-main"}
    kis = baselines["kis-main"]
    assert kis.cash is not None
    assert kis.cash.deposit == Decimal(500_000)
    assert [(p.symbol, p.quantity, p.last_price) for p in kis.positions] == [
        ("005930", 10, Decimal(70_000))
    ]
    assert kis.account.institution is Institution.KIS
    assert kis.taken_at.tzinfo is not None
    (line,) = baselines["samsung-cma"].transactions
    assert (line.tx_id, line.direction, line.amount) == ("T1", Direction.IN, Decimal(5))


def test_unknown_sources_are_a_config_error() -> None:
    """A configured account naming a source nobody wired is refused at construction."""
    with pytest.raises(ConfigError, match="unknown source 'kis'"):
        ReconcileService(
            settings=SETTINGS,
            sources={"openbanking": FakeSource("openbanking", [SAMSUNG])},
            store=None,  # type: ignore[arg-type]
            journal=None,  # type: ignore[arg-type]
            notifier=FakeNotifier(),
            clock=FakeClock(NOW),
            order_sources={"kis": FakeOrderList()},
        )


async def test_journal_reader_maps_rows_to_domain_values(db: Database) -> None:
    """The journal reader maps rows to domain values (side, state, aware times, Decimal price)."""
    await _journal_rows(db, NOW)
    journal = DbJournalReader(db)

    fills = await journal.fills_since("kis-main", NOW - timedelta(seconds=1))
    orders = await journal.orders_since("kis-main", NOW - timedelta(hours=1))
    transfers = await journal.transfers_since("demo", NOW - timedelta(hours=1))

    assert [(f.side, f.price, f.filled_at) for f in fills] == [(Side.BUY, Decimal(70_000), NOW)]
    assert [(o.state, o.broker_order_id, o.filled_quantity) for o in orders] == [
        (OrderState.FILLED, "0000042", 5)
    ]
    assert [(t.amount, t.completed_at) for t in transfers] == [(Decimal(400_000), NOW)]


async def test_journal_ledgers_keep_each_accounts_own_window(db: Database) -> None:
    """ledgers() reads several accounts together and gives each what fills_since and
    orders_since give it for its own window: a row inside one account's window but outside
    another's is kept for the first only."""
    await _journal_rows(db, NOW)
    await _filled_order(
        db,
        "i-2",
        "kis-other",
        "000660",
        "sell",
        1,
        150_000,
        broker_order_id="0000043",
        limit=False,
        created_at=NOW - timedelta(hours=2),
        filled_at=NOW - timedelta(minutes=30),
    )
    journal = DbJournalReader(db)
    wide = LedgerWindow(NOW - timedelta(hours=1), NOW - timedelta(hours=3))
    narrow = LedgerWindow(NOW - timedelta(minutes=10), NOW - timedelta(hours=1))

    together = await journal.ledgers({"kis-main": narrow, "kis-other": wide, "kis-none": wide})
    # The read covers kis-main's wide window; kis-other keeps only its own narrow one.
    narrow_other = await journal.ledgers({"kis-main": wide, "kis-other": narrow})

    assert [f.intent_id for f in together["kis-main"].fills] == ["i-1"]
    assert [o.intent_id for o in together["kis-main"].orders] == ["i-1"]
    assert [f.intent_id for f in together["kis-other"].fills] == ["i-2"]
    assert [o.intent_id for o in together["kis-other"].orders] == ["i-2"]
    assert together["kis-none"] == AccountLedger()
    assert narrow_other["kis-other"] == AccountLedger()
    assert together["kis-other"].fills == tuple(
        await journal.fills_since("kis-other", wide.fills_after)
    )


async def test_runs_and_break_changes_are_logged_as_structured_events(db: Database) -> None:
    """run_started / break_opened / break_resolved / run_finished carry the run id and the break."""
    w = World(db)
    await w.run()
    w.kis.balances["kis-main"] = Decimal(1)

    with structlog.testing.capture_logs() as logs:
        await w.run()
        w.kis.balances["kis-main"] = Decimal(500_000)
        await w.run()

    events = [(e["event"], e.get("run_id")) for e in logs if e["event"].startswith("reconcile.")]
    assert events == [
        ("reconcile.run_started", "run-2"),
        ("reconcile.break_opened", "run-2"),
        ("reconcile.run_finished", "run-2"),
        ("reconcile.run_started", "run-3"),
        ("reconcile.break_resolved", "run-3"),
        ("reconcile.run_finished", "run-3"),
    ]
    opened = next(e for e in logs if e["event"] == "reconcile.break_opened")
    assert (opened["kind"], opened["account_id"], opened["key"]) == (
        "cash_mismatch",
        "kis-main",
        "deposit",
    )
