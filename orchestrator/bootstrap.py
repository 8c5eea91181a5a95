"""The composition root: the only module that imports adapters and decides what stands behind
each port. Everything else receives its collaborators from here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import structlog
from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from adapters.db import migrate
from adapters.db.audit import DbAuditLog
from adapters.db.engine import Database
from adapters.db.queries import DbOperatorQueries
from adapters.db.secrets import SecretStore, TokenCipher, sandbox_key
from orchestrator.api.app import create_api
from orchestrator.api.auth import ApiKey
from orchestrator.api.routes import ApiDeps, metrics_router, operator_router
from orchestrator.clock import SystemClock
from orchestrator.domain.errors import ConfigError
from orchestrator.logging import configure_logging
from orchestrator.ports import Clock
from orchestrator.settings import LoadedSettings, Settings, load_settings

log = structlog.get_logger(__name__)


@dataclass
class Container:
    """Everything wired for one process."""

    loaded: LoadedSettings
    db: Database
    clock: Clock
    audit: DbAuditLog
    secrets: SecretStore

    @property
    def settings(self) -> Settings:
        return self.loaded.settings

    async def close(self) -> None:
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


def build(loaded: LoadedSettings, *, clock: Clock | None = None) -> Container:
    settings = loaded.settings
    db = Database(settings.database.url, echo=settings.database.echo)
    return Container(
        loaded=loaded,
        db=db,
        clock=clock or SystemClock(),
        audit=DbAuditLog(db),
        secrets=SecretStore(db, build_cipher(settings)),
    )


@asynccontextmanager
async def running(container: Container) -> AsyncIterator[Container]:
    """Start background parts (scheduler, upkeep) for `serve`; stop them on exit."""
    log.info("service.started", mode=container.settings.mode)
    try:
        yield container
    finally:
        log.info("service.stopping")
        await container.close()


def build_api(container: Container) -> FastAPI:
    async def database() -> bool:
        async with container.db.session() as session:
            await session.connection()
        return True

    async def migrations() -> bool:
        return await migrate.is_current(container.db)

    readiness = {"database": database, "migrations": migrations}
    settings = container.settings
    deps = ApiDeps(
        mode=settings.mode,
        keys=tuple(ApiKey(k.name, k.role, k.sha256) for k in settings.api.keys),
        queries=DbOperatorQueries(container.db),
    )
    return create_api(
        readiness=readiness, routers=[operator_router(deps), metrics_router(_render_metrics)]
    )


def _render_metrics() -> tuple[bytes, str]:
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
