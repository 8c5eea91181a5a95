"""Schema upgrades and drift checks through Alembic (the only way the schema is made)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from adapters.db import tables
from adapters.db.engine import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def _upgrade(connection: Connection, url: str, revision: str) -> None:
    cfg = alembic_config(url)
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


async def upgrade(db: Database, revision: str = "head") -> str | None:
    """Apply migrations up to `revision` (idempotent). On PostgreSQL also the task engine's
    schema: procrastinate's tables and functions, created or brought to the pinned release by
    procrastinate's own migration files; returns what was done to it (None on SQLite)."""
    async with db.engine.begin() as conn:
        await conn.run_sync(_upgrade, db.url, revision)
    if db.dialect == "postgresql":
        from adapters.tasks.engine import apply_schema

        return await apply_schema(db.url, search_path=db.search_path)
    return None


def _ours(name: str | None, type_: str, parent_names: Any) -> bool:
    """The task engine's objects are procrastinate's, made by `apply_schema`, not by Alembic."""
    return not (type_ == "table" and name is not None and name.startswith("procrastinate_"))


def _diff(connection: Connection) -> list[Any]:
    ctx = MigrationContext.configure(connection, opts={"compare_type": True, "include_name": _ours})
    return list(compare_metadata(ctx, tables.metadata))


async def drift(db: Database) -> list[Any]:
    """Differences between the models and the migrated schema (empty when they agree)."""
    async with db.engine.connect() as conn:
        return await conn.run_sync(_diff)


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def is_current(db: Database) -> bool:
    """True when the database is at the newest migration."""
    head = ScriptDirectory.from_config(alembic_config(db.url)).get_current_head()
    async with db.engine.connect() as conn:
        current = await conn.run_sync(_current)
    return current == head
