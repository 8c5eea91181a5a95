"""The `orchestrator` command line. Exit codes: 0 ok, 1 failure, 2 usage or configuration error.

Commands stay synchronous and call asyncio.run() themselves: typer does not await async commands.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from orchestrator.domain.errors import ConfigError, OrchestratorError

T = TypeVar("T")

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
config_app = typer.Typer(no_args_is_help=True, help="Configuration.")
audit_app = typer.Typer(no_args_is_help=True, help="The tamper-evident audit log.")
secrets_app = typer.Typer(no_args_is_help=True, help="Keys for secrets at rest.")
sandbox_app = typer.Typer(no_args_is_help=True, help="Serve the upstream sandboxes.")
app.add_typer(db_app, name="db")
app.add_typer(config_app, name="config")
app.add_typer(audit_app, name="audit")
app.add_typer(secrets_app, name="secrets")
app.add_typer(sandbox_app, name="sandbox")

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Settings file (default config/orchestrator.yaml)."),
]


HostOption = Annotated[str, typer.Option(help="Interface to bind (loopback by default).")]
SeedOption = Annotated[Path | None, typer.Option(help="Seed YAML (default: the demo seed).")]


def fail(message: str, code: int = 1) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def run_async(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine; turn deliberate errors into exit codes and clear messages."""
    try:
        return asyncio.run(factory())
    except ConfigError as e:
        fail(f"configuration error:\n{e}", 2)
    except OrchestratorError as e:
        fail(f"error: {e}", 1)
    raise AssertionError("unreachable")


def _loaded(config: Path | None, *, logs: bool = True) -> Any:
    from orchestrator import bootstrap

    try:
        return bootstrap.load(config, configure_logs=logs)
    except ConfigError as e:
        fail(f"configuration error:\n{e}", 2)


@config_app.command("check")
def config_check(file: Annotated[Path | None, typer.Argument()] = None) -> None:
    """Validate a settings file (default config/orchestrator.yaml); exit 0 or list the problems."""
    loaded = _loaded(file, logs=False)
    typer.echo(f"{file or 'config/orchestrator.yaml'}: ok (mode {loaded.settings.mode})")


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """Apply every pending migration."""
    from adapters.db import migrate
    from adapters.db.engine import Database

    loaded = _loaded(config)

    async def go() -> None:
        db = Database(loaded.settings.database.url)
        try:
            await migrate.upgrade(db)
        finally:
            await db.dispose()

    run_async(go)
    typer.echo("database is at the newest migration")


@audit_app.command("verify")
def audit_verify(config: ConfigOption = None) -> None:
    """Check the audit hash chain; name the first broken link and exit 1 if there is one."""
    from orchestrator import bootstrap

    loaded = _loaded(config, logs=False)

    async def go() -> Any:
        container = bootstrap.build(loaded)
        try:
            return await container.audit.verify()
        finally:
            await container.close()

    report = run_async(go)
    if report.ok:
        typer.echo(f"audit chain intact ({report.checked} events)")
        return
    fail(f"audit chain broken at event seq={report.first_broken_seq}: {report.reason}", 1)


@secrets_app.command("new-key")
def secrets_new_key() -> None:
    """Print a new encryption key for security.encryption_keys (store it as a secret)."""
    from cryptography.fernet import Fernet

    typer.echo(Fernet.generate_key().decode())


@sandbox_app.command("openbanking")
def sandbox_openbanking(
    host: HostOption = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 18002,
    seed: SeedOption = None,
) -> None:
    """Serve the KFTC Open Banking sandbox (same paths, fields and codes as the relay)."""
    from adapters.sandbox.openbanking import serve as serve_sandbox

    serve_sandbox(host, port, seed)


@sandbox_app.command("kis")
def sandbox_kis(
    host: HostOption = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 18001,
    env: Annotated[str, typer.Option(help="Flavour: real or paper.")] = "real",
    seed: SeedOption = None,
) -> None:
    """Serve the KIS Open API sandbox (same paths, headers, TR ids and codes as KIS)."""
    from adapters.sandbox.kis import serve as serve_sandbox

    if env not in ("real", "paper"):
        fail("--env must be real or paper", 2)
    serve_sandbox(host, port, env, seed)


workflows_app = typer.Typer(no_args_is_help=True, help="YAML workflows and their schedules.")
app.add_typer(workflows_app, name="workflows")


@workflows_app.command("validate")
def workflows_validate(
    path: Annotated[Path | None, typer.Argument(help="A workflow file or directory.")] = None,
) -> None:
    """Validate workflows; `config/` checks the settings file and config/workflows/ together."""
    from orchestrator.settings import DEFAULT_CONFIG, load_settings
    from orchestrator.workflows import commands

    target = path or Path("config/workflows")
    try:
        if target.is_dir() and (target / DEFAULT_CONFIG.name).exists():
            load_settings(target / DEFAULT_CONFIG.name)
            typer.echo(f"{target / DEFAULT_CONFIG.name}: ok")
            target = target / "workflows"
        typer.echo(commands.validate(target))
    except ConfigError as e:
        fail(f"configuration error:\n{e}", 2)


@app.command()
def serve(config: ConfigOption = None) -> None:
    """Run the service: scheduler and operator API."""
    import uvicorn

    from orchestrator import bootstrap

    loaded = _loaded(config)

    async def go() -> None:
        container = bootstrap.build(loaded)
        async with bootstrap.running(container):
            api = bootstrap.build_api(container)
            server = uvicorn.Server(
                uvicorn.Config(
                    api,
                    host=loaded.settings.api.host,
                    port=loaded.settings.api.port,
                    log_config=None,
                    access_log=False,
                )
            )
            await server.serve()

    run_async(go)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
