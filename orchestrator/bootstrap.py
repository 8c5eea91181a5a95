"""The composition root: the only module that imports adapters and decides what stands behind
each port. Everything else receives its collaborators from here.

Sandbox mode runs both upstream stand-ins in-process (httpx over ASGI, same HTTP semantics as the
real hosts); paper and live point the same adapters at the vendors' hosts.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog
from fastapi import APIRouter, FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import SecretStr

from adapters.brokers import PLUGINS, BrokerAdapters
from adapters.db import migrate
from adapters.db.audit import DbAuditLog
from adapters.db.engine import Database
from adapters.db.instance import sqlite_file
from adapters.db.investors import DbInvestorStore
from adapters.db.jobs import DbJobRunStore
from adapters.db.locks import LockedSecrets, NamedLocks
from adapters.db.openbanking import build_openbanking_stores
from adapters.db.orders import DbOrderJournal
from adapters.db.queries import DbOperatorQueries
from adapters.db.reconciliation import DbJournalReader, DbReconciliationStore
from adapters.db.secrets import SecretStore, TokenCipher, sandbox_key
from adapters.db.workflows import DbWorkflowStore
from adapters.http import InProcessTransport
from adapters.http.factory import Resilience, build_resilience
from adapters.http.settings import ResilienceSettings
from adapters.kis import Kis, KisSettings, KisTokens, build_kis, kis_http_client
from adapters.kis.per_investor import InvestorKey, PerInvestorKisSource
from adapters.kis.stream import KisStream, StreamingMarketData, StreamMetrics, StreamPrices
from adapters.notify.dedup import DedupNotifier
from adapters.notify.log import LogNotifier
from adapters.notify.webhook import WebhookNotifier
from adapters.openbanking.accountinfo import AccountInfo, HeldAccounts
from adapters.openbanking.consent import ConsentStart, ConsentStatus, OpenBankingConsent
from adapters.openbanking.factory import OpenBanking, build_openbanking, openbanking_http_client
from adapters.openbanking.settings import OpenBankingSettings
from adapters.sandbox.world import DurableApp, WorldBusy, WorldError, WorldStore, durable
from adapters.tasks import ProcrastinateEngine, TaskHost, create_task_app, run_worker
from orchestrator.api.app import create_api
from orchestrator.api.auth import ApiKey
from orchestrator.api.commands import CommandDeps, commands_router
from orchestrator.api.consent import consent_router
from orchestrator.api.health import ReadinessCheck
from orchestrator.api.investors import investors_router
from orchestrator.api.ops_metrics import OperationsMetrics
from orchestrator.api.routes import ApiDeps, StatusProbes, metrics_router, operator_router
from orchestrator.calendar import KrxCalendar
from orchestrator.clock import SystemClock
from orchestrator.domain.errors import (
    AlreadyRunning,
    AuthError,
    ConfigError,
    InvalidRequest,
    NotFound,
    SourceError,
)
from orchestrator.domain.investors import add_source_defaults
from orchestrator.domain.model import Quote
from orchestrator.logging import configure_logging
from orchestrator.ports import AccountSource, Clock, MarketData, Notifier, OrderExecutor
from orchestrator.ports.scheduling import ItemStatus
from orchestrator.ports.tasks import InvestorTask, TaskEngine
from orchestrator.ports.workflows import TradingCalendar
from orchestrator.scheduling import (
    Action,
    JobSpec,
    Scheduler,
    SchedulerSettings,
    default_replica_id,
)
from orchestrator.services.breaks import BreakService
from orchestrator.services.brokers import BrokerRouter
from orchestrator.services.fanout import FanOut, InProcessEngine, InvestorTaskRunner
from orchestrator.services.investor_work import ServiceInvestorWork
from orchestrator.services.investors import (
    InvestorService,
    KeyProver,
    Offboarder,
    seed_from_settings,
)
from orchestrator.services.job_actions import JobActions, RenewToken
from orchestrator.services.orders import OrderService
from orchestrator.services.reconcile import ReconcileService, ReconciliationSettings
from orchestrator.services.workflow_support import (
    AccountDirectory,
    KillSwitchGuard,
    LivePortfolio,
    LiveReconciler,
    LiveSnapshotter,
    ProposedTransfers,
    WorkflowOrders,
)
from orchestrator.settings import LoadedSettings, SectionModel, Settings, load_settings
from orchestrator.web.app import install_console
from orchestrator.web.deps import ConsoleDeps
from orchestrator.web.desks import (
    ConsoleOrders,
    ConsoleWorkflows,
    ReconcileTasks,
    rebalance_targets,
)
from orchestrator.web.sessions import SessionStore
from orchestrator.workflows.control import WorkflowOperations, job_specs
from orchestrator.workflows.killswitch import KillSwitch
from orchestrator.workflows.loader import load_catalog
from orchestrator.workflows.runner import WorkflowDeps, WorkflowRunner
from orchestrator.workflows.spec import WorkflowsSettings

log = structlog.get_logger(__name__)


@dataclass
class Container:
    """Everything wired for one process."""

    loaded: LoadedSettings
    db: Database
    clock: Clock
    audit: DbAuditLog
    secrets: SecretStore
    cipher: TokenCipher
    notifier: Notifier
    resilience: Resilience
    calendar: KrxCalendar
    workflow_store: DbWorkflowStore
    kill_switch: KillSwitch
    investors: InvestorService
    http_clients: list[httpx.AsyncClient] = field(default_factory=list)
    sandbox_apps: dict[str, Any] = field(default_factory=dict)
    kis: Kis | None = None
    # The KIS stack over another app key (an investor's own), same layer and vault.
    kis_for_key: Callable[[KisSettings], Kis] | None = None
    # Real time (kis.realtime): stream prices shared by valuation, and the running session.
    kis_prices: StreamPrices | None = None
    kis_stream: KisStream | None = None
    kis_stream_metrics: StreamMetrics | None = None
    openbanking: OpenBanking | None = None
    # Further brokers (`brokers:` section), by name.
    brokers: dict[str, BrokerAdapters] = field(default_factory=dict)
    orders: OrderService | None = None
    reconcile: ReconcileService | None = None
    runner: WorkflowRunner | None = None
    directory: AccountDirectory | None = None
    actions: dict[str, Action] = field(default_factory=dict)
    scheduler: Scheduler | None = None
    background: set[asyncio.Task[None]] = field(default_factory=set)
    # Per-investor tasks: in-process on SQLite, procrastinate on PostgreSQL.
    engine: TaskEngine | None = None
    task_app: Any = None
    task_host: TaskHost | None = None
    fanout: FanOut | None = None
    world: WorldStore | None = None
    # Set once start-up recovery has finished (serve only); reconciliations wait for it.
    recovered: asyncio.Event | None = None
    operations_metrics: OperationsMetrics = field(init=False)

    def __post_init__(self) -> None:
        self.operations_metrics = OperationsMetrics(self.resilience.metrics.registry)

    console_reconcile: ReconcileTasks | None = None

    @property
    def settings(self) -> Settings:
        return self.loaded.settings

    @property
    def breaks(self) -> BreakService:
        """Operator actions on breaks (acknowledge, resolve by hand); needs only the database."""
        return BreakService(DbReconciliationStore(self.db), self.clock)

    @property
    def on_task_engine(self) -> bool:
        return self.task_app is not None

    async def close(self) -> None:
        for task in self.background:
            task.cancel()
        if self.task_app is not None:
            await self.task_app.close_async()
        for client in self.http_clients:
            await client.aclose()
        await self.resilience.aclose()
        await self.db.dispose()
        if self.world is not None:
            for app in self.sandbox_apps.values():
                if isinstance(app, DurableApp):
                    app.save()  # state tests or demos changed outside a request
            self.world.close()


def build_cipher(settings: Settings) -> TokenCipher:
    keys = list(settings.security.encryption_keys)
    if not keys:
        if settings.mode != "sandbox":
            raise ConfigError(
                "security.encryption_keys: required outside sandbox mode "
                "(e.g. - env:ORCH_TOKEN_KEY)"
            )
        keys = [sandbox_key(settings.security.sandbox_key_file)]
    return TokenCipher(keys)


# Every section beyond the core, with the model of the code that owns it: `load_settings`
# validates all of them at once (config check and start-up), so none can be skipped.
SECTIONS: dict[str, SectionModel] = {
    "kis": SectionModel(KisSettings, optional=True),
    "openbanking": SectionModel(OpenBankingSettings, optional=True),
    "resilience": SectionModel(ResilienceSettings),
    "scheduler": SectionModel(SchedulerSettings),
    "reconciliation": SectionModel(ReconciliationSettings),
    "workflows": SectionModel(WorkflowsSettings),
}


def demo_credentials() -> frozenset[str]:
    """The sandboxes' demo vendor credentials (public in this repository): refused outside
    sandbox mode."""
    from adapters.sandbox.kis.seed import demo_credentials as kis_demo
    from adapters.sandbox.openbanking.seed import demo_credentials as openbanking_demo

    return kis_demo() | openbanking_demo()


def load(config_path: Path | None = None, *, configure_logs: bool = True) -> LoadedSettings:
    loaded = load_settings(config_path, sections=SECTIONS, demo_credentials=demo_credentials)
    # `brokers:` entries are typed by their adapters' models: validated here too, so `config
    # check` and start-up refuse a bad broker section before anything is wired.
    _broker_settings(loaded)
    if configure_logs:
        configure_logging(loaded.settings.logging.level, loaded.settings.logging.format)
    return loaded


def _notifier(settings: Settings, resilience: ResilienceSettings) -> tuple[Notifier, list[Any]]:
    inner: Notifier = LogNotifier()
    clients: list[Any] = []
    if settings.alerts.webhook_url is not None:
        http = httpx.AsyncClient(timeout=5.0)
        clients.append(http)
        inner = WebhookNotifier(settings.alerts.webhook_url, http)
    return DedupNotifier(inner, window_seconds=resilience.alert_dedup_seconds), clients


def sandbox_world_path(settings: Settings) -> Path | None:
    """Where the sandbox worlds persist, or None when they live in memory only."""
    if settings.mode != "sandbox" or settings.sandbox.ephemeral:
        return None
    if settings.sandbox.world is not None:
        return settings.sandbox.world
    db = sqlite_file(settings.database.url)
    if db is not None:
        return db.with_name(f"{db.stem}-sandbox{db.suffix or '.db'}")
    if settings.database.url.startswith("sqlite"):
        return None  # an in-memory ledger gets an in-memory world
    return settings.data_dir / "sandbox-world.db"


def open_world(settings: Settings) -> WorldStore | None:
    """Open (and hold) the durable sandbox world; AlreadyRunning if another process holds it."""
    path = sandbox_world_path(settings)
    if path is None:
        return None
    try:
        return WorldStore.open(path)
    except WorldBusy as e:
        raise AlreadyRunning(str(e)) from None
    except WorldError as e:
        raise ConfigError(str(e)) from None


def _sandbox_apps(
    settings: Settings, kis: KisSettings | None, world: WorldStore | None
) -> dict[str, Any]:
    """The in-process upstream stand-ins (sandbox mode only), durable unless `world` is None."""
    from adapters.sandbox.kis import SandboxClock
    from adapters.sandbox.kis import create_app as kis_sandbox
    from adapters.sandbox.openbanking import create_app as openbanking_sandbox

    clock = SandboxClock()
    clock.set_session(settings.sandbox.kis_session)
    env = kis.env if kis is not None else "real"
    apps: dict[str, Any] = {
        "kis": kis_sandbox(env=env, seed_path=settings.sandbox.kis_seed, clock=clock),
        "openbanking": openbanking_sandbox(seed_path=settings.sandbox.openbanking_seed),
    }
    if world is None:
        return apps
    try:
        apps["kis"] = durable(apps["kis"], world, f"kis-{env}", ("broker",))
        apps["openbanking"] = durable(apps["openbanking"], world, "openbanking", ("relay",))
    except WorldError as e:
        world.close()
        raise ConfigError(str(e)) from None
    # The configured session mode wins over the one saved with the world's clock.
    apps["kis"].state.broker.clock.set_session(settings.sandbox.kis_session)
    return apps


def build(
    loaded: LoadedSettings,
    *,
    clock: Clock | None = None,
    attach_sandboxes: str | None = None,
    notifier: Notifier | None = None,
) -> Container:
    """Wire the process. No network I/O happens here; adapters connect lazily.

    `attach_sandboxes` (sandbox mode): the base URL of a running service whose sandboxes this
    process should use over loopback HTTP instead of starting its own in-process ones, so CLI
    commands act on the same simulated broker and relay as `serve`.
    """
    settings = loaded.settings
    clock = clock or SystemClock()
    db = Database(settings.database.url, echo=settings.database.echo)
    kis_settings = loaded.section("kis", KisSettings) if loaded.has("kis") else None
    ob_settings = (
        loaded.section("openbanking", OpenBankingSettings) if loaded.has("openbanking") else None
    )
    broker_settings = _broker_settings(loaded)
    if settings.mode == "sandbox" and attach_sandboxes is not None:
        base = attach_sandboxes.rstrip("/")
        for name, broker in broker_settings.items():
            broker_settings[name] = PLUGINS[name].with_base_url(broker, f"{base}/sandbox/{name}")
        if kis_settings is not None:
            kis_settings = kis_settings.model_copy(update={"base_url": f"{base}/sandbox/kis"})
        if ob_settings is not None:
            ob_settings = ob_settings.model_copy(update={"base_url": f"{base}/sandbox/openbanking"})
    resilience_settings = _resilience_settings(loaded, kis_settings, ob_settings, broker_settings)
    default_notifier, clients = _notifier(settings, resilience_settings)
    notifier = notifier or default_notifier
    cipher = build_cipher(settings)
    secrets = SecretStore(db, cipher)
    workflow_store = DbWorkflowStore(db)
    audit = DbAuditLog(db)
    container = Container(
        loaded=loaded,
        db=db,
        clock=clock,
        audit=audit,
        secrets=secrets,
        cipher=cipher,
        notifier=notifier,
        # One registry per container: tests build several in one process.
        resilience=build_resilience(
            resilience_settings, notifier=notifier, clock=clock, registry=CollectorRegistry()
        ),
        calendar=KrxCalendar(settings.calendar.extra_closures, settings.calendar.extra_open_days),
        workflow_store=workflow_store,
        kill_switch=KillSwitch(workflow_store, clock),
        investors=InvestorService(DbInvestorStore(db, cipher), audit, clock),
        http_clients=clients,
    )
    if settings.mode == "sandbox" and attach_sandboxes is None:
        container.world = open_world(settings)
        container.sandbox_apps = _sandbox_apps(settings, kis_settings, container.world)
        for name, broker in broker_settings.items():
            plugin = PLUGINS[name]
            app = plugin.sandbox_app(broker)
            if container.world is not None:
                try:
                    app = durable(
                        app, container.world, plugin.sandbox_world(broker), plugin.sandbox_state
                    )
                except WorldError as e:
                    raise ConfigError(str(e)) from None
            container.sandbox_apps[name] = app

    def transport(name: str) -> httpx.AsyncBaseTransport | None:
        app = container.sandbox_apps.get(name)
        return None if app is None else InProcessTransport(app=app)

    if kis_settings is not None:
        http = kis_http_client(kis_settings, transport=transport("kis"))
        container.http_clients.append(http)
        vault = LockedSecrets(secrets, NamedLocks(db))
        container.kis = build_kis(kis_settings, container.resilience, vault, http, clock=clock)
        kis_http, kis_vault = http, vault
        container.kis_for_key = lambda s: build_kis(
            s, container.resilience, kis_vault, kis_http, clock=clock
        )
        container.investors.set_key_prover(
            "kis", _kis_key_prover(container, kis_settings, http, vault)
        )
        if kis_settings.realtime_enabled:
            container.kis_prices = StreamPrices()
            # Served at /metrics with the upstream metrics (one registry per container).
            container.kis_stream_metrics = StreamMetrics(container.resilience.metrics.registry)
    for name, broker in broker_settings.items():
        plugin = PLUGINS[name]
        add_source_defaults(name, plugin.reconcile_defaults)
        http = plugin.http_client(broker, transport(name))
        container.http_clients.append(http)
        vault = LockedSecrets(secrets, NamedLocks(db))
        container.brokers[name] = plugin.build(broker, container.resilience, vault, http, clock)
    if ob_settings is not None:
        http = openbanking_http_client(ob_settings, transport=transport("openbanking"))
        container.http_clients.append(http)
        stores = build_openbanking_stores(db, cipher)
        container.openbanking = build_openbanking(
            ob_settings, container.resilience, stores, http, clock=clock, audit=container.audit
        )
    _build_services(container)
    return container


def _market(c: Container) -> MarketData:
    """Workflow pricing and valuation: stream prices while fresh when real time is on."""
    assert c.kis is not None
    if c.kis_prices is None:
        return c.kis.market
    stale = timedelta(seconds=c.kis.client.settings.realtime.price_stale_seconds)
    return StreamingMarketData(c.kis.market, c.kis_prices, c.clock, stale)


def _notice_latency(c: Container) -> Callable[[float], None] | None:
    return None if c.kis_stream_metrics is None else c.kis_stream_metrics.observe_latency


def _live_prices(c: Container) -> Callable[[], Mapping[str, Quote]] | None:
    """Fresh stream prices for portfolio valuation when real time is on (else None)."""
    prices, kis = c.kis_prices, c.kis
    if prices is None or kis is None:
        return None
    stale = timedelta(seconds=kis.client.settings.realtime.price_stale_seconds)
    return lambda: prices.fresh(c.clock.now(), stale)


async def _recovery_done(c: Container) -> None:
    """Returns once start-up recovery has finished (`serve`); at once where none runs."""
    if c.recovered is not None:
        await c.recovered.wait()


async def _run_kis_stream(c: Container) -> None:
    """The KIS websocket session, once recovery has settled the journal."""
    if c.kis is None or c.orders is None or c.kis_prices is None:
        return
    settings = c.kis.client.settings
    if c.sandbox_apps and settings.realtime.url is None:
        # The in-process sandbox is reached through the API port it is mounted on (`serve`).
        url = mounted_sandbox_ws_url(c.settings)
        if url is None:
            log.warning("kis.stream.needs_served_sandbox")
            return
        realtime = settings.realtime.model_copy(update={"url": url})
        settings = settings.model_copy(update={"realtime": realtime})
    await _recovery_done(c)
    account = (await c.kis.accounts.accounts(settings.user_id))[0]
    holdings = c.kis.accounts

    async def held() -> list[str]:
        # The symbols in use: the account's holdings (the display cache's read), whose prices
        # value the portfolio, besides the configured `kis.realtime.symbols`.
        return [p.symbol for p in await holdings.positions(account)]

    stream = KisStream(
        settings,
        c.kis.client,
        account,
        clock=c.clock,
        prices=c.kis_prices,
        metrics=c.kis_stream_metrics,
        symbols_in_use=held,
    )
    c.kis_stream = stream
    await stream.run(c.orders)


def mounted_sandbox_ws_url(settings: Settings) -> str | None:
    """The websocket URL of the KIS sandbox mounted at /sandbox/kis on the API port, when
    `serve` exposes it there (sandbox mode, `sandbox.expose`, a fixed port); else None."""
    if settings.mode != "sandbox" or not settings.sandbox.expose or not settings.api.port:
        return None
    host = settings.api.host
    if host in ("0.0.0.0", "", "::"):
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"ws://{host}:{settings.api.port}/sandbox/kis/tryitout"


def websocket_protocol() -> type[asyncio.Protocol]:
    """uvicorn's websocket protocol for `serve`: websockets-sansio, also reporting pong frames
    to the mounted KIS sandbox (a client may answer its PINGPONG with a pong, spec §7.2)."""
    from adapters.sandbox.kis.pongs import PongReportingProtocol

    return PongReportingProtocol


def _broker_settings(loaded: LoadedSettings) -> dict[str, Any]:
    """Each `brokers:` entry validated by its adapter's model; unknown names are refused."""
    found: dict[str, Any] = {}
    for name in loaded.settings.brokers:
        plugin = PLUGINS.get(name)
        if plugin is None:
            known = ", ".join(sorted(PLUGINS)) or "none"
            raise ConfigError(
                f"{loaded.where('brokers', name)}: brokers.{name}: unknown broker (known: {known})"
            )
        found[name] = loaded.subsection("brokers", name, plugin.settings_model)
    return found


def _resilience_settings(
    loaded: LoadedSettings,
    kis: KisSettings | None,
    ob: OpenBankingSettings | None,
    brokers: Mapping[str, Any] | None = None,
) -> ResilienceSettings:
    rs = loaded.section("resilience", ResilienceSettings)
    update: dict[str, Any] = {}
    if rs.redis_url is None and loaded.settings.redis_url:
        update["redis_url"] = loaded.settings.redis_url
    # Configured budgets win over the adapters' declared vendor defaults (README: precedence).
    update["rate_limits"] = rs.effective_rate_limits(
        kis.rate_limits() if kis else {},
        ob.rate_limits() if ob else {},
        *(PLUGINS[name].rate_limits(b) for name, b in (brokers or {}).items()),
    )
    return rs.model_copy(update=update)


def _build_services(c: Container) -> None:
    settings = c.settings
    sources: dict[str, AccountSource] = {}
    order_sources: dict[str, Any] = {}
    executors: dict[str, OrderExecutor] = {}
    kis_reads: AccountSource | PerInvestorKisSource | None = None
    if c.kis is not None:
        kis_reads = _kis_source(c, c.kis)
        sources[c.kis.accounts.name] = kis_reads
        executors[c.kis.executor.name] = c.kis.executor
    for broker in c.brokers.values():
        sources[broker.accounts.name] = broker.accounts
        executors[broker.executor.name] = broker.executor
    order_sources.update(executors)
    if isinstance(kis_reads, PerInvestorKisSource):
        # Each investor's KIS orders and order list go out with their own key too.
        order_sources[kis_reads.name] = kis_reads
        executors[kis_reads.name] = kis_reads
    if c.openbanking is not None:
        sources[c.openbanking.source.name] = c.openbanking.source
    recon_settings = c.loaded.section("reconciliation", ReconciliationSettings)
    if len(executors) == 1:
        (executor,) = executors.values()
        c.orders = OrderService(
            DbOrderJournal(c.db, c.cipher),
            executor,
            c.clock,
            guard=KillSwitchGuard(c.workflow_store),
            notifier=c.notifier,
            notice_latency=_notice_latency(c),
        )
    elif executors:
        # Each trading account names its broker (`orders:` of its reconciliation entry).
        router = BrokerRouter(
            executors,
            {a.account: a.orders for a in recon_settings.accounts if a.orders in executors},
        )
        c.orders = OrderService(
            DbOrderJournal(c.db, c.cipher),
            router,
            c.clock,
            guard=KillSwitchGuard(c.workflow_store),
            notifier=c.notifier,
            notice_latency=_notice_latency(c),
            broker_of=router.broker_of,
            brokers=router.names,
        )
    users = {u.id for u in settings.users}
    for i, account in enumerate(recon_settings.accounts):
        if account.user not in users:
            loc = ("reconciliation", "accounts", i, "user")
            where = c.loaded.source.where(loc) if c.loaded.source else "(settings)"
            raise ConfigError(f"{where}: reconciliation.accounts[{i}].user: unknown user")
    # Investors and their accounts are records; the settings' users and accounts seed them
    # (imported once, idempotently, on first use) so the embedded default needs no steps.
    c.investors.set_default_seed(seed_from_settings(settings.users, recon_settings.accounts))
    c.investors.add_offboarder(_offboard_openbanking(c))
    if c.openbanking is not None:
        c.investors.set_discoverer(c.openbanking.source.name, c.openbanking.source.registered)
    c.investors.add_offboarder(_offboard_credentials(c))
    c.directory = AccountDirectory(c.investors, sources)
    c.reconcile = ReconcileService(
        settings=recon_settings,
        sources=sources,
        store=DbReconciliationStore(c.db),
        journal=DbJournalReader(c.db),
        notifier=c.notifier,
        clock=c.clock,
        order_sources=order_sources,
        accounts=c.investors,
        live_prices=_live_prices(c),
    )
    _build_tasks(c)
    wf_settings = c.loaded.section("workflows", WorkflowsSettings)
    if wf_settings.enabled and c.orders is not None and c.kis is not None:
        directory = c.directory
        session: TradingCalendar = c.calendar
        if settings.mode == "sandbox":
            session = SandboxSession(c.calendar, settings.sandbox.kis_session)
        c.runner = WorkflowRunner(
            load_catalog(wf_settings.directory),
            WorkflowDeps(
                store=c.workflow_store,
                kill_switch=c.workflow_store,
                orders=WorkflowOrders(c.orders, directory.trading_account),
                portfolio=LivePortfolio(directory, _market(c), c.clock),
                reconciler=LiveReconciler(c.reconcile),
                snapshots=LiveSnapshotter(directory),
                transfers=ProposedTransfers(c.audit, c.notifier, c.clock),
                notifier=c.notifier,
                calendar=session,
                clock=c.clock,
                house_limits=wf_settings.house_limits,
            ),
        )
    assert c.fanout is not None
    app_tokens: list[RenewToken] = [c.kis.tokens.current] if c.kis is not None else []
    app_tokens += [broker.renew_token for broker in c.brokers.values()]
    jobs = JobActions(
        fanout=c.fanout,
        investors=c.investors,
        reconcile_service=c.reconcile,
        orders=c.orders,
        runner=c.runner,
        app_tokens=app_tokens,
        recovery_done=lambda: _recovery_done(c),
    )
    c.actions.update(jobs.actions())


class SandboxSession:
    """The KRX calendar as the sandbox sees it: with the simulated session forced open, the
    workflow session-hours guardrail must agree with the broker, or demos could never trade at
    night. Trading days still follow the real calendar."""

    def __init__(self, calendar: KrxCalendar, session: str) -> None:
        self._calendar = calendar
        self._session = session

    def is_trading_day(self, day: date) -> bool:
        return self._calendar.is_trading_day(day)

    def is_open(self, at: datetime) -> bool:
        if self._session == "auto":
            return self._calendar.is_open(at)
        return self._session == "open"


def _kis_source(c: Container, kis: Kis) -> AccountSource | PerInvestorKisSource:
    """`kis` reads with each investor's own attached key (else the configured one)."""
    if c.kis_for_key is None:
        return kis.accounts

    async def key_of(investor_id: str) -> InvestorKey | None:
        found = await c.investors.store.credential_secrets(investor_id, "kis")
        if found is None or found[0].status != "active":
            return None
        credential, secret = found
        own = [a.id for a in await c.investors.store.accounts(investor_id) if a.source == "kis"]
        return InvestorKey(
            version=credential.updated_at.isoformat(),
            env=credential.env,
            app_key=secret["app_key"],
            app_secret=secret["app_secret"],
            account=secret["account"],
            account_id=own[0] if own else f"kis-{investor_id}",
        )

    return PerInvestorKisSource(kis, key_of, c.kis_for_key, c.clock)


def _kis_key_prover(
    c: Container, base: KisSettings, http: httpx.AsyncClient, vault: LockedSecrets
) -> KeyProver:
    async def prove(env: str, app_key: str, app_secret: str, account: str) -> None:
        # The investor's own key: its own token (stored under its fingerprint, 1/min issuance
        # respected by KisTokens) and its own limiter key.
        settings = base.model_copy(
            update={
                "env": env,
                "app_key": SecretStr(app_key),
                "app_secret": SecretStr(app_secret),
                "account": SecretStr(account),
            }
        )
        tokens = KisTokens(
            settings,
            c.resilience.client("kis", http),
            vault,
            clock=c.clock,
            sleep=c.resilience.sleep,
        )
        await tokens.current()

    return prove


def _offboard_openbanking(c: Container) -> Offboarder:
    async def revoke(investor_id: str, actor: str) -> dict[str, str]:
        # Revocation at the relay, token deletion and its audit entry are the consent's own.
        if c.openbanking is None:
            return {}
        status = await c.openbanking.consent.revoke(investor_id, actor=actor)
        return {"openbanking_consent": "revoked" if not status.granted else "still granted"}

    return revoke


def _offboard_credentials(c: Container) -> Offboarder:
    async def delete(investor_id: str, actor: str) -> dict[str, str]:
        removed = [
            cred.institution
            for cred in await c.investors.store.credentials(investor_id)
            if await c.investors.store.delete_credential(investor_id, cred.institution)
        ]
        return {"credentials_deleted": ",".join(removed) or "none"}

    return delete


async def investor_ids(c: Container) -> list[str]:
    """The investors the service works for: the active investor records."""
    return list(await c.investors.active_ids())


def _build_tasks(c: Container) -> None:
    """The per-investor functions, and the engine that runs them for each fire."""

    async def trading_accounts(investor: str) -> Any:
        assert c.directory is not None
        return await c.directory.trading_accounts(investor)

    async def workflow(schedule_id: str, task: InvestorTask) -> object:
        if c.runner is None:
            raise ConfigError("workflows are not enabled")
        return await c.runner.fire(schedule_id, task.scheduled_for)

    async def tokens(investor: str) -> None:
        # Reading a token renews it when it is near expiry (KFTC 90 days); a consent still
        # within `consent_expiry_alert_days` afterwards was not renewed: an operator is told.
        ob = c.openbanking
        if ob is not None and (await ob.consent.status(investor)).granted:
            await ob.tokens.user_token(investor)
            alert = (await ob.consent.status(investor)).expiry_alert()
            if alert is not None:
                await c.notifier.notify(alert)

    work = ServiceInvestorWork(
        reconcile=c.reconcile,
        orders=c.orders,
        trading_accounts=trading_accounts if c.directory is not None else None,
        workflow=workflow,
        tokens=tokens,
    )
    store = DbJobRunStore(c.db)
    replica = default_replica_id()
    runner = InvestorTaskRunner(work, store, c.clock, worker=replica)
    tasks = c.settings.tasks
    if c.db.dialect == "postgresql":
        host = TaskHost(runner=runner, worker=replica)
        c.task_host = host
        c.task_app = create_task_app(
            c.db.url,
            host,
            search_path=c.db.search_path,
            keep_finished_hours=tasks.keep_finished_hours,
        )
        c.engine = ProcrastinateEngine(c.task_app)
    else:
        c.engine = InProcessEngine(runner, concurrency=tasks.in_process_concurrency)
    c.fanout = FanOut(store, c.engine)


async def _sync_fills(c: Container) -> None:
    if c.orders is None or c.directory is None:
        return
    for user_id in await investor_ids(c):
        try:
            account = await c.directory.trading_account(user_id)
        except SourceError:
            continue
        await c.orders.sync_fills(account)


async def prepare(container: Container) -> None:
    """Start-up work every entry point needs: the seed investors, and in sandbox mode the demo
    users' consent."""
    await container.investors.ensure_seeded()
    ob = container.openbanking
    if container.settings.mode != "sandbox" or ob is None:
        return
    for user in container.settings.users:
        investor = await container.investors.store.investor(user.id)
        if investor is None or not investor.active:
            continue  # offboarded: no consent is provisioned again
        if not await ob.consent.provision_sandbox_consent(user.id):
            try:
                await ob.source.accounts(user.id)
            except AuthError:
                # A new in-process sandbox does not know the tokens an earlier process stored:
                # consent again, as a user would after the relay forgot them.
                await ob.consent.revoke(user.id)
                await ob.consent.provision_sandbox_consent(user.id)


async def _recover(container: Container) -> None:
    # No new order is accepted until every intent left unresolved by a crash is settled. A
    # failure is the order service's state (readiness, status, one alert); order upkeep retries.
    if container.orders is not None:
        try:
            await container.orders.recover()
        except Exception:
            log.exception("service.recovery_failed")
            return
        # Fills the broker made while we were down (or before the upkeep job saw them) are
        # journalled before the first reconciliation compares, or they would look missing.
        try:
            await _sync_fills(container)
        except SourceError as e:
            log.warning("orders.startup_fill_sync_failed", error=str(e))
    if container.runner is not None:
        await container.runner.resume_interrupted()


async def _recover_then_signal(container: Container, done: asyncio.Event) -> None:
    try:
        await _recover(container)
    finally:
        done.set()


def build_scheduler(container: Container) -> Scheduler:
    settings = container.loaded.section("scheduler", SchedulerSettings)
    if container.runner is not None:
        extra = tuple(JobSpec.model_validate(spec) for spec in job_specs(container.runner))
        settings = settings.model_copy(update={"jobs": (*settings.jobs, *extra)})
    return Scheduler(
        settings,
        actions=container.actions,
        store=DbJobRunStore(container.db),
        calendar=container.calendar,
        clock=container.clock,
        replica=default_replica_id(),
        audit=container.audit,
        engine=container.engine if isinstance(container.engine, ProcrastinateEngine) else None,
    )


async def open_task_engine(container: Container) -> Scheduler | None:
    """On PostgreSQL: open the task engine and give its tasks a scheduler to run fires with."""
    if container.task_app is None or container.task_host is None:
        return None
    await container.task_app.open_async()
    scheduler = container.scheduler or build_scheduler(container)
    container.task_host.scheduler = scheduler
    return scheduler


async def work(container: Container, *, concurrency: int | None = None, signals: bool) -> None:
    """Run a task worker in this process until cancelled or signalled (PostgreSQL only)."""
    if container.task_app is None:
        raise ConfigError(
            "orchestrator worker needs database.url on PostgreSQL: on SQLite the tasks run "
            "in-process inside serve"
        )
    tasks = container.settings.tasks
    await run_worker(
        container.task_app,
        name=default_replica_id(),
        concurrency=concurrency or tasks.worker_concurrency,
        heartbeat_seconds=tasks.heartbeat_seconds,
        stalled_after=tasks.stalled_after_seconds,
        install_signal_handlers=signals,
        shutdown_grace=tasks.shutdown_grace_seconds,
        poll_seconds=tasks.poll_seconds,
    )


@asynccontextmanager
async def running(container: Container, *, worker: bool | None = None) -> AsyncIterator[Container]:
    """Start background parts (consent, recovery, scheduler, and on PostgreSQL a task worker
    unless `worker` is False or `tasks.serve_runs_worker` is off) for `serve`; stop on exit."""
    async with AsyncExitStack() as stack:
        stack.push_async_callback(container.close)
        try:
            await prepare(container)
        except SourceError as e:
            log.error("service.prepare_failed", error=str(e))
        # Reconciliations wait for recovery: the first one compares only after recovery has
        # settled and journalled what happened while the service was down.
        container.recovered = asyncio.Event()
        recovery = asyncio.create_task(_recover_then_signal(container, container.recovered))
        container.background.add(recovery)
        recovery.add_done_callback(container.background.discard)
        scheduler = build_scheduler(container)
        container.scheduler = scheduler
        with_worker = container.settings.tasks.serve_runs_worker if worker is None else worker
        if await open_task_engine(container) is not None and with_worker:
            task = asyncio.create_task(work(container, signals=False))
            container.background.add(task)
            task.add_done_callback(container.background.discard)

            async def stop_worker() -> None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

            stack.push_async_callback(stop_worker)
        if container.kis_prices is not None and container.orders is not None:
            streaming = asyncio.create_task(_run_kis_stream(container))
            container.background.add(streaming)
            streaming.add_done_callback(container.background.discard)

            async def stop_stream() -> None:
                streaming.cancel()
                await asyncio.gather(streaming, return_exceptions=True)

            stack.push_async_callback(stop_stream)
        await scheduler.start()
        stack.push_async_callback(scheduler.shutdown)
        if container.settings.service.reconcile_on_start:
            first = next((j.id for j in await scheduler.jobs() if j.action == "reconcile"), None)
            if first is not None:
                await scheduler.trigger(first, by="startup")
        log.info("service.started", **startup_summary(container, await scheduler.jobs()))
        yield container
        log.info("service.stopping")


def startup_summary(container: Container, jobs: Sequence[Any]) -> dict[str, object]:
    """The one start-up line: what runs, on what, where its state lives (no secrets)."""
    from sqlalchemy.engine import make_url

    settings = container.settings
    world = container.world
    return {
        "mode": settings.mode,
        "database": make_url(settings.database.url).render_as_string(hide_password=True),
        "api": f"http://{settings.api.host}:{settings.api.port}",
        "jobs": len(jobs),
        "sandboxes": sorted(container.sandbox_apps) or None,
        "sandbox_state": (
            None
            if not container.sandbox_apps
            else (str(world.path) if world is not None else "ephemeral (in memory)")
        ),
    }


class SchedulerControl:
    """JobControl for the API over the Scheduler (JSON-ready mappings)."""

    def __init__(self, scheduler: Scheduler) -> None:
        self._scheduler = scheduler

    async def jobs(self) -> Sequence[Mapping[str, Any]]:
        return [info.as_dict() for info in await self._scheduler.jobs()]

    async def runs(self, job_id: str | None, limit: int) -> Sequence[Mapping[str, Any]]:
        return [run.as_dict() for run in await self._scheduler.runs(job_id, limit)]

    async def run(
        self,
        job_id: str,
        scheduled_for: datetime,
        *,
        limit: int,
        offset: int = 0,
        status: ItemStatus | None = None,
    ) -> Mapping[str, Any] | None:
        found = await self._scheduler.run(job_id, scheduled_for)
        if found is None:
            return None
        # One row more than the page says whether another page follows.
        outcomes = await self._scheduler.outcomes(
            job_id, scheduled_for, limit=limit + 1, offset=offset, status=status
        )
        page = outcomes[:limit]
        more = len(outcomes) > limit
        return {
            **found.as_dict(),
            "investors": [i.as_dict() for i in page],
            "page": {
                "limit": limit,
                "offset": offset,
                "status": status,
                "matching": found.matching(status),
                "next_offset": offset + len(page) if more else None,
            },
        }

    async def trigger(self, job_id: str, by: str) -> Mapping[str, Any]:
        return (await self._scheduler.trigger(job_id, by)).as_dict()

    async def pause(self, job_id: str, by: str) -> None:
        await self._scheduler.pause(job_id, by)

    async def resume(self, job_id: str, by: str) -> None:
        await self._scheduler.resume(job_id, by)

    @property
    def running(self) -> bool:
        return self._scheduler.running


def console_deps(
    container: Container,
    api: ApiDeps,
    readiness: Mapping[str, ReadinessCheck],
    workflow_ops: WorkflowOperations | None,
) -> ConsoleDeps:
    """What the operator console drives: the same services the API and CLI use."""
    settings = container.settings
    recon = container.loaded.section("reconciliation", ReconciliationSettings)
    if container.console_reconcile is None and container.reconcile is not None:
        container.console_reconcile = ReconcileTasks(container.reconcile)
    runner = container.runner
    return ConsoleDeps(
        api=api,
        sessions=SessionStore(
            container.clock, idle=timedelta(seconds=settings.api.console_idle_seconds)
        ),
        clock=container.clock,
        users=[u.id for u in settings.users],
        readiness=readiness,
        orders=(
            None
            if container.orders is None or container.directory is None
            else ConsoleOrders(container.orders, container.directory)
        ),
        breaks=container.breaks,
        reconcile_now=container.console_reconcile,
        workflow_desk=(
            None
            if runner is None or workflow_ops is None
            else ConsoleWorkflows(runner, workflow_ops)
        ),
        verify_audit=container.audit.verify,
        investors=container.investors,
        targets=lambda: rebalance_targets(runner),
        refresh_ms=settings.api.console_refresh_seconds * 1000,
        rules={
            "cash tolerance": f"₩{recon.cash_tolerance_krw:,}",
            "fee tolerance": f"{recon.fee_tolerance_rate * 100}% of the fill value",
            "too recent to judge": f"{recon.too_recent_seconds} s",
            "transfer match window": f"{recon.transfer_match_window_seconds} s",
            "stale after": f"{recon.stale_after_seconds} s",
        },
    )


def _recovery_probe(container: Container) -> Callable[[], Mapping[str, object] | None]:
    def probe() -> Mapping[str, object] | None:
        if container.orders is None:
            return None
        status = container.orders.recovery_status()
        return {
            "state": status.state,
            "slow": status.slow,
            "reason": status.reason,
            "error": status.error,
            "started_at": status.started_at,
            "finished_at": status.finished_at,
        }

    return probe


class _FillsFirst:
    """A reconciliation asked for by an operator first journals the broker's latest fills, so
    an order placed a moment ago is compared as filled rather than reported missing."""

    def __init__(self, container: Container, service: ReconcileService) -> None:
        self._container = container
        self._service = service

    async def run_once(self, **kwargs: Any) -> Any:
        await sync_fills(self._container)
        return await self._service.run_once(**kwargs)


async def sync_fills(container: Container) -> None:
    """Journal the fills the broker reports for every user's trading account (best effort)."""
    if container.orders is None or not container.orders.ready:
        return
    try:
        await _sync_fills(container)
    except SourceError as e:
        log.warning("orders.fill_sync_failed", error=str(e))


class _DiscoveringConsent:
    """The consent API's control: a consent granted through our callback is followed at once by
    account discovery (account/list), so the investor's accounts appear without another step."""

    def __init__(
        self, consent: OpenBankingConsent, investors: InvestorService, held: AccountInfo
    ) -> None:
        self._consent = consent
        self._investors = investors
        self._held = held

    async def begin(
        self,
        user_id: str,
        *,
        actor: str,
        accountinfo_api_tran_id: str | None = None,
        accountinfo_list_num: Sequence[str] = (),
    ) -> ConsentStart:
        return await self._consent.begin(
            user_id,
            actor=actor,
            accountinfo_api_tran_id=accountinfo_api_tran_id,
            accountinfo_list_num=accountinfo_list_num,
        )

    async def accountinfo(self, auth_code: str, kind: str) -> HeldAccounts:
        return await self._held.list(auth_code, kind)

    async def status(self, user_id: str) -> ConsentStatus:
        return await self._consent.status(user_id)

    async def revoke(self, user_id: str, *, actor: str) -> ConsentStatus:
        return await self._consent.revoke(user_id, actor=actor)

    async def callback(self, query: Mapping[str, str]) -> ConsentStatus:
        status = await self._consent.callback(query)
        if status.granted:
            try:
                await self._investors.discover(status.user_id, actor="openbanking")
            except (SourceError, NotFound, InvalidRequest) as error:
                # Consent stands; discovery can be run again (POST /investors/{id}/discover).
                log.warning(
                    "investors.discovery_failed", investor_id=status.user_id, error=str(error)
                )
        return status


def _consent_state(c: Container) -> Callable[[str], Awaitable[str | None]]:
    async def state(investor_id: str) -> str | None:
        if c.openbanking is None:
            return None
        found = (await c.openbanking.consent.status(investor_id)).state
        return None if found is None else found.value

    return state


def _consent_routers(container: Container, deps: ApiDeps) -> list[APIRouter]:
    """The consent routes and our callback, at the path of the configured redirect_uri."""
    ob = container.openbanking
    if ob is None:
        return []
    settings = container.settings
    relay = ob.settings.host
    mounted = (
        f"http://{settings.api.host}:{settings.api.port}/sandbox/openbanking"
        if settings.mode == "sandbox"
        and settings.sandbox.expose
        and "openbanking" in container.sandbox_apps
        else None
    )

    def browser_url(url: str) -> str | None:
        # In-process sandbox: the relay's host is not reachable by a browser, its mount is.
        if mounted is None or not url.startswith(relay):
            return None
        return mounted + url[len(relay) :]

    return [
        consent_router(
            deps.keys,
            _DiscoveringConsent(ob.consent, container.investors, ob.accountinfo),
            callback_path=urlsplit(ob.settings.redirect_uri).path or "/openbanking/callback",
            known=container.investors.get,
            browser_url=browser_url,
        )
    ]


def _command_deps(container: Container, deps: ApiDeps) -> CommandDeps:
    if container.console_reconcile is None and container.reconcile is not None:
        service: Any = _FillsFirst(container, container.reconcile)
        container.console_reconcile = ReconcileTasks(service)
    orders = (
        None
        if container.orders is None or container.directory is None
        else ConsoleOrders(container.orders, container.directory)
    )
    return CommandDeps(
        keys=deps.keys,
        orders=orders,
        reconcile=container.console_reconcile,
        breaks=container.breaks,
        workflows=deps.workflows,
        default_user=deps.default_user,
    )


def build_api(container: Container) -> FastAPI:
    async def database() -> bool:
        async with container.db.session() as session:
            await session.connection()
        return True

    async def migrations() -> bool:
        return await migrate.is_current(container.db)

    async def scheduler() -> bool:
        return container.scheduler is not None and container.scheduler.running

    async def orders() -> bool | str:
        # The recovery gate: no new order is accepted until recovery settled what a crash left.
        if container.orders is None:
            return True
        return container.orders.recovery_status().reason or True

    readiness = {
        "database": database,
        "migrations": migrations,
        "scheduler": scheduler,
        "orders": orders,
    }
    settings = container.settings
    workflow_ops = (
        None
        if container.runner is None
        else WorkflowOperations(
            container.runner,
            container.workflow_store,
            calendar=container.calendar,
            audit=container.audit,
        )
    )
    deps = ApiDeps(
        mode=settings.mode,
        keys=tuple(ApiKey(k.name, k.role, k.sha256, k.investor) for k in settings.api.keys),
        queries=DbOperatorQueries(container.db),
        probes=StatusProbes(
            breaker_states=container.resilience.breakers.states,
            clock_skew=container.resilience.skew.latest,
            order_recovery=_recovery_probe(container),
        ),
        jobs=None if container.scheduler is None else SchedulerControl(container.scheduler),
        killswitch=container.kill_switch,
        workflows=workflow_ops,
        default_user=settings.users[0].id,
    )
    registry = container.resilience.metrics.registry
    operations = container.operations_metrics

    def render_metrics() -> tuple[bytes, str]:
        return generate_latest(registry), CONTENT_TYPE_LATEST

    async def refresh_metrics() -> None:
        await operations.refresh(
            deps.queries,
            now=container.clock.now,
            breaker_states=deps.probes.breaker_states,
            jobs=deps.jobs,
            orders_ready=lambda: None if container.orders is None else container.orders.ready,
        )

    api = create_api(
        readiness=readiness,
        routers=[
            operator_router(deps),
            commands_router(_command_deps(container, deps)),
            investors_router(
                deps.keys,
                container.investors,
                portfolio=deps.queries.latest_portfolio,
                consent=_consent_state(container),
            ),
            *_consent_routers(container, deps),
            metrics_router(render_metrics, refresh_metrics),
        ],
        keys=deps.keys,
    )
    install_console(api, console_deps(container, deps, readiness, workflow_ops))
    if settings.mode == "sandbox" and settings.sandbox.expose:
        # Sandbox control (faults, clock, changes behind our back) for demos; never in live.
        for name, app in container.sandbox_apps.items():
            api.mount(f"/sandbox/{name}", app)
    return api
