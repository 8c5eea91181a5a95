"""The composition root: the only module that imports adapters and decides what stands behind
each port. Everything else receives its collaborators from here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import structlog
from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from adapters.db import migrate
from adapters.db.audit import DbAuditLog
from adapters.db.engine import Database
from adapters.db.jobs import DbJobRunStore
from adapters.db.queries import DbOperatorQueries
from adapters.db.secrets import SecretStore, TokenCipher, sandbox_key
from adapters.http.factory import Resilience, build_resilience
from adapters.http.settings import ResilienceSettings
from adapters.notify.dedup import DedupNotifier
from adapters.notify.log import LogNotifier
from adapters.notify.webhook import WebhookNotifier
from orchestrator.api.app import create_api
from orchestrator.api.auth import ApiKey
from orchestrator.api.routes import ApiDeps, StatusProbes, metrics_router, operator_router
from orchestrator.calendar import KrxCalendar
from orchestrator.clock import SystemClock
from orchestrator.domain.errors import ConfigError
from orchestrator.logging import configure_logging
from orchestrator.ports import Clock, Notifier
from orchestrator.scheduling import JobFire, Scheduler, SchedulerSettings, default_replica_id
from orchestrator.settings import LoadedSettings, Settings, load_settings

log = structlog.get_logger(__name__)

Action = Callable[[JobFire], Awaitable[object]]


@dataclass
class Container:
    """Everything wired for one process."""

    loaded: LoadedSettings
    db: Database
    clock: Clock
    audit: DbAuditLog
    secrets: SecretStore
    notifier: Notifier
    resilience: Resilience
    calendar: KrxCalendar
    http_clients: list[httpx.AsyncClient] = field(default_factory=list)
    actions: dict[str, Action] = field(default_factory=dict)
    scheduler: Scheduler | None = None

    @property
    def settings(self) -> Settings:
        return self.loaded.settings

    async def close(self) -> None:
        for client in self.http_clients:
            await client.aclose()
        await self.resilience.aclose()
        await self.db.dispose()


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


def load(config_path: Path | None = None, *, configure_logs: bool = True) -> LoadedSettings:
    loaded = load_settings(config_path)
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


def build(loaded: LoadedSettings, *, clock: Clock | None = None) -> Container:
    """Wire the process. No network I/O happens here; adapters connect lazily."""
    settings = loaded.settings
    clock = clock or SystemClock()
    db = Database(settings.database.url, echo=settings.database.echo)
    resilience_settings = loaded.section("resilience", ResilienceSettings)
    if resilience_settings.redis_url is None and settings.redis_url:
        resilience_settings = resilience_settings.model_copy(
            update={"redis_url": settings.redis_url}
        )
    notifier, clients = _notifier(settings, resilience_settings)
    container = Container(
        loaded=loaded,
        db=db,
        clock=clock,
        audit=DbAuditLog(db),
        secrets=SecretStore(db, build_cipher(settings)),
        notifier=notifier,
        # One registry per container: tests build several in one process.
        resilience=build_resilience(
            resilience_settings, notifier=notifier, clock=clock, registry=CollectorRegistry()
        ),
        calendar=KrxCalendar(settings.calendar.extra_closures, settings.calendar.extra_open_days),
        http_clients=clients,
    )
    container.actions["token_upkeep"] = _noop_action
    container.actions["reconcile"] = _noop_action  # replaced once the reconcile service is wired
    return container


async def _noop_action(fire: JobFire) -> None:
    log.info("job.nothing_to_do", job=fire.job_id)


def build_scheduler(container: Container) -> Scheduler:
    return Scheduler(
        container.loaded.section("scheduler", SchedulerSettings),
        actions=container.actions,
        store=DbJobRunStore(container.db),
        calendar=container.calendar,
        clock=container.clock,
        replica=default_replica_id(),
        audit=container.audit,
    )


@asynccontextmanager
async def running(container: Container) -> AsyncIterator[Container]:
    """Start background parts (scheduler) for `serve`; stop them on exit."""
    async with AsyncExitStack() as stack:
        stack.push_async_callback(container.close)
        scheduler = build_scheduler(container)
        container.scheduler = scheduler
        await scheduler.start()
        stack.push_async_callback(scheduler.shutdown)
        log.info("service.started", mode=container.settings.mode)
        yield container
        log.info("service.stopping")


class SchedulerControl:
    """JobControl for the API over the Scheduler (JSON-ready mappings)."""

    def __init__(self, scheduler: Scheduler) -> None:
        self._scheduler = scheduler

    async def jobs(self) -> Sequence[Mapping[str, Any]]:
        return [info.as_dict() for info in await self._scheduler.jobs()]

    async def runs(self, job_id: str | None, limit: int) -> Sequence[Mapping[str, Any]]:
        return [run.as_dict() for run in await self._scheduler.runs(job_id, limit)]

    async def trigger(self, job_id: str, by: str) -> Mapping[str, Any]:
        return (await self._scheduler.trigger(job_id, by)).as_dict()

    async def pause(self, job_id: str, by: str) -> None:
        await self._scheduler.pause(job_id, by)

    async def resume(self, job_id: str, by: str) -> None:
        await self._scheduler.resume(job_id, by)

    @property
    def running(self) -> bool:
        return self._scheduler.running


def build_api(container: Container) -> FastAPI:
    async def database() -> bool:
        async with container.db.session() as session:
            await session.connection()
        return True

    async def migrations() -> bool:
        return await migrate.is_current(container.db)

    async def scheduler() -> bool:
        return container.scheduler is not None and container.scheduler.running

    readiness = {"database": database, "migrations": migrations, "scheduler": scheduler}
    settings = container.settings
    deps = ApiDeps(
        mode=settings.mode,
        keys=tuple(ApiKey(k.name, k.role, k.sha256) for k in settings.api.keys),
        queries=DbOperatorQueries(container.db),
        probes=StatusProbes(
            breaker_states=container.resilience.breakers.states,
            clock_skew=container.resilience.skew.latest,
        ),
        jobs=None if container.scheduler is None else SchedulerControl(container.scheduler),
        default_user=settings.users[0].id,
    )
    registry = container.resilience.metrics.registry

    def render_metrics() -> tuple[bytes, str]:
        return generate_latest(registry), CONTENT_TYPE_LATEST

    return create_api(
        readiness=readiness, routers=[operator_router(deps), metrics_router(render_metrics)]
    )
