"""Settings: the YAML file (embedded default `config/orchestrator.yaml`), environment overrides
(`ORCH_` prefix, `__` between levels, e.g. `ORCH_DATABASE__URL`) and secret references.

Bad configuration is refused before anything starts, with messages naming file, line and field:
unknown keys, wrong types, out-of-range values, secrets that cannot be resolved; in paper and live
mode also placeholder secrets, the sandboxes' demo vendor credentials and the demo API keys.

The core models below own the core sections. Every other section (vendors, resilience, scheduler,
reconciliation, workflows) is a pydantic model owned by the code that uses it; the composition
root registers them (`bootstrap.SECTIONS`) and `load_settings` validates them all at once, so one
`config check` lists every problem of every section.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from orchestrator import secretref
from orchestrator.domain.errors import ConfigError
from orchestrator.yamlpos import LocatedYaml, format_loc, load_yaml

Mode = Literal["sandbox", "paper", "live"]
M = TypeVar("M", bound=BaseModel)
DEFAULT_CONFIG = Path("config/orchestrator.yaml")
ENV_PREFIX = "ORCH_"


def _resolve_secret(value: object) -> object:
    if isinstance(value, SecretStr):
        return value
    if not isinstance(value, str):
        raise ValueError("a secret must be a reference string such as env:NAME or file:PATH")
    try:
        return secretref.resolve(value)
    except secretref.SecretRefError as e:
        raise ValueError(str(e)) from e


SecretRef = Annotated[SecretStr, BeforeValidator(_resolve_secret)]
"""A secret given as a reference (env:/file:/literal:), resolved at load time."""


class Section(BaseModel):
    """Every config section refuses unknown keys: a typo must not silently become a default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(Section):
    url: str = "sqlite+aiosqlite:///var/orchestrator.db"
    echo: bool = False

    @field_validator("url")
    @classmethod
    def _async_driver(cls, v: str) -> str:
        if not v.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("use sqlite+aiosqlite:///PATH or postgresql+asyncpg://HOST/DB")
        return v


class ApiKeySettings(Section):
    """An API key, stored as its SHA-256 (keys are random, so a plain hash suffices). An
    `investor` key names the one investor it may see."""

    name: str
    role: Literal["investor", "viewer", "operator"]
    sha256: str
    investor: str | None = Field(default=None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _bound(self) -> ApiKeySettings:
        if (self.role == "investor") != (self.investor is not None):
            raise ValueError("investor: is required for role investor and only for it")
        return self

    @field_validator("sha256")
    @classmethod
    def _hex(cls, v: str) -> str:
        if not re.fullmatch(r"[0-9a-f]{64}", v):
            raise ValueError("sha256 must be 64 lowercase hex digits (sha256sum of the key)")
        return v


class ApiSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    keys: tuple[ApiKeySettings, ...] = ()
    # Operator console: a session unused this long is gone (the operator logs in again).
    console_idle_seconds: int = Field(default=900, ge=60, le=86400)
    # How often the overview and orders pages refresh themselves.
    console_refresh_seconds: int = Field(default=5, ge=1, le=300)


class LoggingSettings(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["auto", "json", "console"] = "auto"


class SecuritySettings(Section):
    """Keys for tokens at rest. The first key encrypts; all keys decrypt (rotation)."""

    encryption_keys: tuple[SecretRef, ...] = ()
    # Sandbox only: created with mode 0600 on first run when no key is configured.
    sandbox_key_file: Path = Path("var/sandbox-secret.key")


class UserSettings(Section):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    display_name: str = ""


class KrxCalendarSettings(Section):
    """Closures the holidays package may not know yet (announced at short notice)."""

    extra_closures: tuple[date, ...] = ()
    extra_open_days: tuple[date, ...] = ()


class SandboxSettings(Section):
    """Sandbox mode only: the simulated upstreams run in-process with these seeds."""

    kis_seed: Path | None = None
    openbanking_seed: Path | None = None
    # Force the simulated KRX session open so demos can trade at any hour ("auto" follows the
    # real calendar and hours).
    kis_session: Literal["auto", "open", "closed"] = "open"
    # Serve the sandboxes' own APIs (faults, clock, behind-the-back cash changes) under
    # /sandbox/kis and /sandbox/openbanking on the operator API port.
    expose: bool = True
    # Where both sandbox worlds persist (accounts, orders, tokens, consents, clock offset...).
    # Default: beside the SQLite database (var/orchestrator.db -> var/orchestrator-sandbox.db),
    # or <data_dir>/sandbox-world.db on PostgreSQL, so the ledger and the world go together.
    world: Path | None = None
    # Keep the sandboxes in memory only (tests, benchmarks): every start reseeds them.
    ephemeral: bool = False


class ServiceSettings(Section):
    # Run one reconciliation right after start-up, whatever the schedule says.
    reconcile_on_start: bool = True


class TaskSettings(Section):
    """How per-investor tasks run. On SQLite always in-process; on PostgreSQL on procrastinate
    workers (`orchestrator worker`, and one inside `serve` unless `serve_runs_worker` is off)."""

    worker_concurrency: int = Field(default=8, ge=1, le=256)
    in_process_concurrency: int = Field(default=8, ge=1, le=256)
    serve_runs_worker: bool = True
    heartbeat_seconds: float = Field(default=10.0, gt=0, le=300)
    stalled_after_seconds: float = Field(default=30.0, gt=0, le=3600)
    shutdown_grace_seconds: float | None = Field(default=None, gt=0)
    poll_seconds: float = Field(default=1.0, gt=0, le=60)
    # Finished queue jobs are pruned hourly once older than this (the run history is kept in
    # job_runs; the queue's rows only help an operator look into a recent failure).
    keep_finished_hours: int = Field(default=24, ge=1, le=24 * 90)


class AlertSettings(Section):
    """Where operator alerts go: always the log; also a Slack-compatible webhook when set."""

    webhook_url: SecretRef | None = None


class Settings(BaseSettings):
    """The whole configuration tree; sections are added by the features that need them."""

    model_config = SettingsConfigDict(
        extra="forbid",
        frozen=True,
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        case_sensitive=False,
    )

    mode: Mode = "sandbox"
    data_dir: Path = Path("var")
    database: DatabaseSettings = DatabaseSettings()
    redis_url: str | None = None
    api: ApiSettings = ApiSettings()
    logging: LoggingSettings = LoggingSettings()
    security: SecuritySettings = SecuritySettings()
    users: tuple[UserSettings, ...] = (UserSettings(id="demo"),)
    calendar: KrxCalendarSettings = KrxCalendarSettings()
    alerts: AlertSettings = AlertSettings()
    service: ServiceSettings = ServiceSettings()
    tasks: TaskSettings = TaskSettings()
    sandbox: SandboxSettings = SandboxSettings()
    # Vendor, resilience, scheduler and workflow sections: validated by their own models (see
    # `section()`), so the core stays vendor-neutral; unknown keys are still refused there.
    kis: dict[str, Any] = Field(default_factory=dict)
    openbanking: dict[str, Any] = Field(default_factory=dict)
    resilience: dict[str, Any] = Field(default_factory=dict)
    scheduler: dict[str, Any] = Field(default_factory=dict)
    reconciliation: dict[str, Any] = Field(default_factory=dict)
    workflows: dict[str, Any] = Field(default_factory=dict)
    # Further brokers behind the ports, by name (`brokers: {<name>: {...}}`): each section is
    # validated by its adapter's own model; the core knows none of them.
    brokers: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The YAML arrives as init kwargs; environment variables override it.
        return (env_settings, init_settings)


@dataclass(frozen=True, slots=True)
class SectionModel:
    """A section's owner model. `optional`: an absent section means the feature is off (a vendor
    not configured); otherwise an absent section is validated as `{}` (its defaults)."""

    model: type[BaseModel]
    optional: bool = False


SectionModels = Mapping[str, SectionModel]


class LoadedSettings:
    """Validated settings plus where they came from (to name lines in later errors)."""

    def __init__(
        self,
        settings: Settings,
        source: LocatedYaml | None,
        sections: Mapping[str, BaseModel] | None = None,
    ) -> None:
        self.settings = settings
        self.source = source
        self._sections: dict[str, BaseModel] = dict(sections or {})

    def has(self, name: str) -> bool:
        """The section was given (in the file or the environment)."""
        return bool(getattr(self.settings, name))

    def section(self, name: str, model: type[M]) -> M:
        """The section validated by its own model (at load time when registered), naming lines
        on error."""
        found = self._sections.get(name)
        if isinstance(found, model):
            return found
        data = getattr(self.settings, name)
        try:
            typed = model.model_validate(data)
        except ValidationError as e:
            raise ConfigError(_describe(e, self.source, prefix=(name,))) from e
        self._sections[name] = typed
        return typed

    def sections(self) -> Mapping[str, BaseModel]:
        return dict(self._sections)

    def subsection(self, name: str, key: str, model: type[M]) -> M:
        """Validate `name.key` (e.g. one broker under `brokers:`) with its own model."""
        data = getattr(self.settings, name)[key]
        try:
            return model.model_validate(data)
        except ValidationError as e:
            raise ConfigError(_describe(e, self.source, prefix=(name, key))) from e

    def where(self, *loc: int | str) -> str:
        """`file:line:column` of a settings key, for errors the core raises itself."""
        return self.source.where(loc) if self.source is not None else "(settings)"


def _describe(
    error: ValidationError, source: LocatedYaml | None, prefix: Sequence[int | str] = ()
) -> str:
    lines = []
    for item in error.errors():
        loc = (*prefix, *item["loc"])
        field = format_loc(loc)
        where = source.where(loc) if source is not None else "(defaults)"
        env_name = ENV_PREFIX + "__".join(str(p) for p in loc).upper()
        if _env_has(env_name):
            where = f"environment {env_name}"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown key (misspelt? see config/orchestrator.yaml for the known keys)"
        lines.append(f"{where}: {field}: {message}")
    return "\n".join(lines)


def _env_has(name: str) -> bool:
    return name in os.environ


def _walk_secrets(
    value: object, loc: tuple[int | str, ...]
) -> Iterator[tuple[tuple[int | str, ...], SecretStr]]:
    if isinstance(value, SecretStr):
        yield loc, value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _walk_secrets(getattr(value, name), (*loc, name))
    elif isinstance(value, tuple | list):
        for i, item in enumerate(value):
            yield from _walk_secrets(item, (*loc, i))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _walk_secrets(item, (*loc, str(key)))


def placeholder_problems(
    model: BaseModel,
    source: LocatedYaml | None,
    prefix: Sequence[int | str] = (),
    *,
    mode: str = "live",
    refused: Collection[str] = (),
) -> list[str]:
    """Secrets that look like placeholders or demo values, or that are one of the sandboxes'
    demo vendor credentials (`refused`): each a problem outside sandbox mode."""
    problems = []
    for loc, secret in _walk_secrets(model, tuple(prefix)):
        value = secret.get_secret_value()
        where = source.where(loc) if source is not None else "(defaults)"
        if value.strip() in refused:
            problems.append(
                f"{where}: {format_loc(loc)}: the sandbox's demo credential is refused in "
                f"{mode} mode"
            )
        elif secretref.looks_like_placeholder(value):
            problems.append(
                f"{where}: {format_loc(loc)}: placeholder secret refused in {mode} mode"
            )
    return problems


def refuse_placeholders(
    model: BaseModel, source: LocatedYaml | None, prefix: Sequence[int | str] = ()
) -> None:
    """In live mode, a secret that looks like a placeholder or demo value is a config error."""
    problems = placeholder_problems(model, source, prefix)
    if problems:
        raise ConfigError("\n".join(problems))


def load_settings(
    path: Path | None = None,
    *,
    sections: SectionModels | None = None,
    demo_credentials: Callable[[], Collection[str]] | None = None,
) -> LoadedSettings:
    """Read, override from the environment, validate the core and every registered section.

    Raises ConfigError listing every problem of every section (file:line: field: message).
    Outside sandbox mode, placeholders, `demo_credentials` (the sandboxes' vendor secrets) and
    the demo API keys are refused.
    """
    path = path or DEFAULT_CONFIG
    source = load_yaml(path)
    if not isinstance(source.data, dict):
        raise ConfigError(f"{path}:1:1: the top level must be a mapping of sections")
    problems: list[str] = []
    settings: Settings | None = None
    try:
        settings = Settings(**source.data)
    except ValidationError as e:
        problems.append(_describe(e, source))
    typed: dict[str, BaseModel] = {}
    for name, owner in (sections or {}).items():
        data = getattr(settings, name) if settings is not None else source.data.get(name)
        if not data and owner.optional:
            continue
        try:
            typed[name] = owner.model.model_validate(data or {})
        except ValidationError as e:
            problems.append(_describe(e, source, prefix=(name,)))
    if problems or settings is None:
        raise ConfigError("\n".join(problems))
    if settings.mode != "sandbox":
        refused = frozenset(demo_credentials() if demo_credentials is not None else ())
        problems += placeholder_problems(settings, source, mode=settings.mode, refused=refused)
        for name, model in typed.items():
            problems += placeholder_problems(
                model, source, (name,), mode=settings.mode, refused=refused
            )
        demo_keys = {DEMO_API_KEY_SHA256, DEMO_VIEWER_KEY_SHA256}
        for i, key in enumerate(settings.api.keys):
            if key.sha256 in demo_keys:
                where = source.where(("api", "keys", i, "sha256"))
                problems.append(
                    f"{where}: api.keys[{i}].sha256: the sandbox demo key is refused in "
                    f"{settings.mode} mode"
                )
        if problems:
            raise ConfigError("\n".join(problems))
    return LoadedSettings(settings, source, typed)


DEMO_API_KEY = "demo-operator-key-sandbox-only"
DEMO_API_KEY_SHA256 = hashlib.sha256(DEMO_API_KEY.encode()).hexdigest()
DEMO_VIEWER_KEY = "demo-viewer-key-sandbox-only"
DEMO_VIEWER_KEY_SHA256 = hashlib.sha256(DEMO_VIEWER_KEY.encode()).hexdigest()
