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

from adapters.sandbox.served import SERVED, ServedSandbox
from orchestrator.domain.errors import (
    AlreadyRunning,
    ConfigError,
    InvalidInput,
    InvalidRequest,
    OrchestratorError,
)

T = TypeVar("T")

# Typer's pretty tracebacks print local variables (settings, tokens): main() prints a masked one.
app = typer.Typer(
    no_args_is_help=True, add_completion=False, help=__doc__, pretty_exceptions_enable=False
)
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
EphemeralOption = Annotated[
    bool, typer.Option("--ephemeral", help="Keep the world in memory only (reseeded each start).")
]


def _state_option(default: str) -> Any:
    return typer.Option(
        "--state", help=f"File the world persists in across restarts (default {default})."
    )


def _sandbox_state(state: Path | None, default: str, ephemeral: bool) -> Path | None:
    if ephemeral and state is not None:
        fail("--state and --ephemeral exclude each other", 2)
    return None if ephemeral else (state or Path(default))


def _serve_sandbox(serve_it: Callable[[], None]) -> None:
    from adapters.sandbox.world import WorldError

    try:
        serve_it()
    except WorldError as e:
        fail(f"error: {e}", 2)


def fail(message: str, code: int = 1) -> None:
    from orchestrator.logging import scrub_text

    # Error messages can quote vendor replies: masked like the logs.
    typer.echo(scrub_text(message), err=True)
    raise typer.Exit(code)


def run_async(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine; turn deliberate errors into exit codes and clear messages."""
    try:
        return asyncio.run(factory())
    except ConfigError as e:
        fail(f"configuration error:\n{e}", 2)
    except (AlreadyRunning, InvalidRequest) as e:  # the caller's mistake: a usage error
        fail(f"error: {e}", 2)
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

    async def go() -> str | None:
        from adapters.db.orders import encrypt_account_numbers
        from orchestrator.bootstrap import build_cipher

        db = Database(loaded.settings.database.url)
        try:
            task_queue = await migrate.upgrade(db)
            # Rows from before migration 0004 hold plain account numbers: encrypt them now.
            await encrypt_account_numbers(db, build_cipher(loaded.settings))
            return task_queue
        finally:
            await db.dispose()

    task_queue = run_async(go)
    typer.echo("database is at the newest migration")
    if task_queue is not None:
        typer.echo(f"task queue schema: {task_queue}")


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


@secrets_app.command("rotate")
def secrets_rotate(config: ConfigOption = None) -> None:
    """Re-encrypt every stored token and investor credential under the first key of
    security.encryption_keys (put the new key first, run this, then drop the old keys)."""
    from orchestrator import bootstrap

    loaded = _loaded(config, logs=False)

    async def go() -> tuple[int, int]:
        container = bootstrap.build(loaded)
        try:
            tokens = await container.secrets.rotate_all()
            credentials = await container.investors.store.reencrypt()
            return tokens, credentials
        finally:
            await container.close()

    tokens, credentials = run_async(go)
    typer.echo(f"re-encrypted {tokens} token(s) and {credentials} credential(s)")


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
    state: Annotated[Path | None, _state_option("var/sandbox-openbanking.db")] = None,
    ephemeral: EphemeralOption = False,
) -> None:
    """Serve the KFTC Open Banking sandbox (same paths, fields and codes as the relay)."""
    from adapters.sandbox.openbanking import serve as serve_sandbox

    path = _sandbox_state(state, "var/sandbox-openbanking.db", ephemeral)
    _serve_sandbox(lambda: serve_sandbox(host, port, seed, path))


@sandbox_app.command("kis")
def sandbox_kis(
    host: HostOption = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 18001,
    env: Annotated[str, typer.Option(help="Flavour: real or paper.")] = "real",
    seed: SeedOption = None,
    state: Annotated[Path | None, _state_option("var/sandbox-kis.db")] = None,
    ephemeral: EphemeralOption = False,
) -> None:
    """Serve the KIS Open API sandbox (same paths, headers, TR ids and codes as KIS)."""
    from adapters.sandbox.kis import serve as serve_sandbox

    if env not in ("real", "paper"):
        fail("--env must be real or paper", 2)
    path = _sandbox_state(state, "var/sandbox-kis.db", ephemeral)
    _serve_sandbox(lambda: serve_sandbox(host, port, env, seed, path))


def _served_command(served: ServedSandbox) -> Callable[..., None]:
    flavours = " or ".join(served.flavours)
    default_state = f"var/sandbox-{served.name}.db"

    port_option = typer.Option(served.default_port, help="TCP port.")
    env_option = typer.Option(served.flavours[0], help=f"Flavour: {flavours}.")
    state_option = typer.Option(
        None, "--state", help=f"File the world persists in (default {default_state})."
    )
    ephemeral_option = typer.Option(
        False, "--ephemeral", help="Keep the world in memory only (reseeded each start)."
    )

    def command(
        host: HostOption = "127.0.0.1",
        port: int = port_option,
        env: str = env_option,
        seed: SeedOption = None,
        state: Path | None = state_option,
        ephemeral: bool = ephemeral_option,
    ) -> None:
        if env not in served.flavours:
            fail(f"--env must be {flavours}", 2)
        path = _sandbox_state(state, default_state, ephemeral)
        _serve_sandbox(lambda: served.serve(host, port, env, seed, path))

    command.__doc__ = served.summary
    return command


# Sandboxes registered by the adapters (a new broker's sandbox needs no CLI code).
for _served in SERVED:
    sandbox_app.command(_served.name)(_served_command(_served))


workflows_app = typer.Typer(no_args_is_help=True, help="YAML workflows and their schedules.")
app.add_typer(workflows_app, name="workflows")


@workflows_app.command("validate")
def workflows_validate(
    path: Annotated[Path | None, typer.Argument(help="A workflow file or directory.")] = None,
) -> None:
    """Validate workflows; `config/` checks the settings file and config/workflows/ together."""
    from orchestrator import bootstrap
    from orchestrator.settings import DEFAULT_CONFIG
    from orchestrator.workflows import commands

    target = path or Path("config/workflows")
    try:
        if target.is_dir() and (target / DEFAULT_CONFIG.name).exists():
            bootstrap.load(target / DEFAULT_CONFIG.name, configure_logs=False)
            typer.echo(f"{target / DEFAULT_CONFIG.name}: ok")
            target = target / "workflows"
        typer.echo(commands.validate(target))
    except ConfigError as e:
        fail(f"configuration error:\n{e}", 2)


def with_container(
    config: Path | None, body: Callable[[Any], Coroutine[Any, Any, T]], *, logs: bool = False
) -> T:
    """Build the process's container, run start-up preparation, run `body`, close."""
    from orchestrator import bootstrap

    loaded = _loaded(config, logs=logs)
    if not logs:
        from orchestrator.logging import configure_logging

        # Commands print their own output; keep routine log lines off the terminal.
        configure_logging("WARNING", "console", stream=sys.stderr)

    attach = _running_service(loaded.settings)

    async def go() -> T:
        container = bootstrap.build(loaded, attach_sandboxes=attach)
        try:
            if attach is None:
                # With a service running it did this at its start; doing it again here would
                # write the shared database behind its back (re-granting a consent the operator
                # just revoked through it, for one).
                await bootstrap.prepare(container)
            return await body(container)
        finally:
            await container.close()

    return run_async(go)


def _running_service(settings: Any) -> str | None:
    """In sandbox mode, the URL of the running `serve` (for this configuration) whose sandboxes
    we share; without one, the CLI opens the same durable world itself."""
    from orchestrator.cli_remote import find_service

    if settings.mode != "sandbox" or not settings.sandbox.expose:
        return None
    base = find_service(settings)
    if base is None:
        return None
    typer.echo(f"(using the sandboxes of the service running at {base})", err=True)
    return base


def _remote(config: Path | None, *, read_only: bool = False) -> Any:
    """The running service's API for a state-changing command, or None (then: work directly).
    Says which in one line on stderr."""
    from orchestrator.cli_remote import Remote, find_service
    from orchestrator.settings import load_settings

    try:
        # The core settings only: enough to find the service (which validated the rest at its
        # start), without importing the whole service (seconds per command on a busy machine).
        settings = load_settings(config).settings
    except ConfigError as e:
        fail(f"configuration error:\n{e}", 2)
    base = find_service(settings)
    if base is None:
        typer.echo("(no service running for this configuration: working directly)", err=True)
        return None
    shown = "as it sees them" if read_only else "its log and audit show this command"
    typer.echo(f"(through the service at {base}: {shown})", err=True)
    try:
        return Remote.for_settings(base, settings)
    except ConfigError as e:
        fail(f"configuration error:\n{e}", 2)


def _seg(value: str) -> str:
    """One URL path segment: an id with a slash or `..` must not reach another route."""
    from urllib.parse import quote

    return quote(value, safe="")


def _remote_run(call: Callable[[], T]) -> T:
    from orchestrator.cli_remote import ServiceError

    try:
        return call()
    except InvalidInput as e:
        fail(f"invalid input: {e}; nothing was written", 2)
    except ServiceError as e:
        fail(f"error: {e}", 1)
    raise AssertionError("unreachable")


reconcile_app = typer.Typer(help="Reconciliation across both institutions and our ledger.")
orders_app = typer.Typer(no_args_is_help=True, help="Duplicate-proof orders on KIS.")
killswitch_app = typer.Typer(no_args_is_help=True, help="Stop (or allow) every order.")
accounts_app = typer.Typer(no_args_is_help=True, help="Read linked accounts.")
app.add_typer(orders_app, name="orders")
app.add_typer(killswitch_app, name="killswitch")
app.add_typer(accounts_app, name="accounts")


@app.command("reconcile")
def reconcile(
    once: Annotated[bool, typer.Option("--once", help="Run one reconciliation now.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """Run one reconciliation and print its report (exit 1 when it found breaks)."""
    from orchestrator.services.reconcile import format_report

    if not once:
        fail("the service reconciles on its schedule; use --once to run one now", 2)
    remote = _remote(config)
    if remote is not None:
        _reconcile_remote(remote, as_json)
        return

    async def body(c: Any) -> Any:
        from orchestrator import bootstrap

        await bootstrap.sync_fills(c)
        return await c.reconcile.run_once(trigger="cli")

    report = with_container(config, body)
    typer.echo(report.to_json(indent=2) if as_json else format_report(report))
    if report.status in ("breaks", "error"):
        raise typer.Exit(1)


def _reconcile_remote(remote: Any, as_json: bool) -> None:
    import json

    from orchestrator.services.reconcile import format_report_dict

    started = _remote_run(lambda: remote.call("POST", "/api/v1/reconciliations"))
    done = _remote_run(lambda: remote.wait_reconciliation(started["progress"]))
    run_id = done.get("run_id")
    detail = _remote_run(lambda: remote.call("GET", f"/api/v1/reconciliations/{run_id}"))
    report = detail.get("report")
    if as_json:
        typer.echo(json.dumps(report or detail, indent=2, ensure_ascii=False))
    elif report:
        # The same text as a reconciliation run in this process: one renderer for both.
        typer.echo(format_report_dict(report))
    else:
        typer.echo(f"reconciliation {run_id}: {done['status']}: {done.get('error') or ''}")
    if done["status"] in ("breaks", "error", "failed"):
        raise typer.Exit(1)


def _orders(c: Any) -> Any:
    if c.orders is None:
        fail("no KIS section in the settings: orders are not configured", 2)
    return c.orders


@orders_app.command("place")
def orders_place(
    symbol: Annotated[str, typer.Option(help="KRX code, e.g. 005930.")],
    side: Annotated[str, typer.Option(help="buy or sell.")],
    qty: Annotated[int, typer.Option(help="Whole shares.", min=1)],
    price: Annotated[str | None, typer.Option(help="Limit price (KRW); omit for market.")] = None,
    key: Annotated[str | None, typer.Option(help="Idempotency key (repeat safely).")] = None,
    user: Annotated[str, typer.Option(help="Whose trading account.")] = "demo",
    account: Annotated[
        str | None,
        typer.Option(help="Trading account id (e.g. kis-main); default the user's first."),
    ] = None,
    show_balance: Annotated[bool, typer.Option(help="Read KIS cash and positions after.")] = True,
    config: ConfigOption = None,
) -> None:
    """Place one order on KIS: recorded before it is sent, sent once, never resent blindly."""
    from orchestrator.orders_cli import place_command

    remote = _remote(config)
    if remote is not None:
        _place_remote(remote, symbol, side, qty, price, key, user)
        return

    async def body(c: Any) -> Any:
        service = _orders(c)
        target = await c.directory.trading_account(user, account)
        result = await place_command(
            service, target, symbol=symbol, side=side, quantity=qty, price=price, key=key
        )
        text = result.text
        if show_balance and result.exit_code == 0:
            text += "\n" + await _balance_text(c, user)
        return result.exit_code, text

    code, text = with_container(config, body)
    typer.echo(text)
    raise typer.Exit(code)


def _place_remote(
    remote: Any, symbol: str, side: str, qty: int, price: str | None, key: str | None, user: str
) -> None:
    import uuid

    key = key or f"cli-{uuid.uuid4().hex}"
    body: dict[str, Any] = {"user": user, "symbol": symbol, "side": side.lower(), "quantity": qty}
    if price is not None:
        body["price"] = price
    placed = _remote_run(
        lambda: remote.call("POST", "/api/v1/orders", json=body, headers={"Idempotency-Key": key})
    )
    typer.echo(_remote_order_line(remote, placed))
    typer.echo(f"idempotency key: {key}")
    if placed["state"] in ("rejected", "not_found", "unknown"):
        raise typer.Exit(1)


def _remote_order_line(remote: Any, placed: dict[str, Any]) -> str:
    rows = _remote_run(lambda: remote.call("GET", "/api/v1/orders", params={"limit": 100}))
    row = next((r for r in rows if r["id"] == placed["id"]), None)
    if row is None:
        return f"{placed['id']} -> {placed['state']}"
    from orchestrator.domain.money import krw

    price = "market" if row.get("limit_price") is None else f"@ ₩{krw(row['limit_price'])}"
    line = (
        f"{row['id']} {row['side']} {row['quantity']} {row['symbol']} {price}"
        f" [{row['account_id']}] -> {row['state']}"
    )
    if row.get("broker_order_id"):
        line += f" (order {row['broker_order_id']})"
    if row.get("reject_code"):
        message = (row.get("last_error") or "").split("] ", 1)[-1].removeprefix(row["reject_code"])
        line += f" code {row['reject_code']}: {message.strip()}"
    if placed.get("cancel_state"):
        line += f" cancel {placed['cancel_state']}"
    return line


@orders_app.command("cancel")
def orders_cancel(intent_id: str, config: ConfigOption = None) -> None:
    """Cancel the unfilled remainder of one of our orders."""
    from orchestrator.orders_cli import cancel_command

    remote = _remote(config)
    if remote is not None:
        done = _remote_run(lambda: remote.call("POST", f"/api/v1/orders/{_seg(intent_id)}/cancel"))
        typer.echo(_remote_order_line(remote, done))
        return

    async def body(c: Any) -> Any:
        service = _orders(c)
        if not service.ready:
            await service.recover()
        return await cancel_command(service, intent_id)

    result = with_container(config, body)
    typer.echo(result.text)
    raise typer.Exit(result.exit_code)


@orders_app.command("list")
def orders_list(
    user: Annotated[str | None, typer.Option(help="Only this user's orders.")] = None,
    state: Annotated[list[str] | None, typer.Option(help="Only these states.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    config: ConfigOption = None,
) -> None:
    """Our order intents and what became of them (from our journal, no vendor call)."""
    from orchestrator.orders_cli import list_command

    async def body(c: Any) -> Any:
        return await list_command(_orders(c), user_id=user, states=state or (), limit=limit)

    result = with_container(config, body)
    typer.echo(result.text)
    raise typer.Exit(result.exit_code)


async def _balance_text(c: Any, user: str) -> str:
    from orchestrator.domain.money import krw

    lines = []
    for source, ref in await c.directory.accounts(user):
        cash = await source.cash(ref, fresh=True)
        figures = [f"deposit ₩{krw(cash.deposit)}"]
        if cash.orderable is not None:
            figures.append(f"orderable ₩{krw(cash.orderable)}")
        if cash.withdrawable is not None:
            figures.append(f"withdrawable ₩{krw(cash.withdrawable)}")
        lines.append(f"{ref.account_id} ({source.name}, {ref.masked_number}): {', '.join(figures)}")
        lines.extend(
            f"  {p.symbol} {p.name} x{p.quantity} avg ₩{krw(p.avg_price)}"
            for p in await source.positions(ref, fresh=True)
        )
    return "\n".join(lines) or f"no accounts configured for {user}"


@accounts_app.command("show")
def accounts_show(
    user: Annotated[str, typer.Option(help="Whose accounts.")] = "demo",
    config: ConfigOption = None,
) -> None:
    """Fresh cash and positions of every configured account of the user."""

    async def body(c: Any) -> str:
        return await _balance_text(c, user)

    typer.echo(with_container(config, body))


@accounts_app.command("history")
def accounts_history(
    account: Annotated[str, typer.Option(help="Account id (see `accounts show`).")],
    days: Annotated[int, typer.Option(help="How many days back (KST).", min=1, max=3650)] = 90,
    user: Annotated[str, typer.Option(help="Whose account.")] = "demo",
    config: ConfigOption = None,
) -> None:
    """Every transaction of the account in the period, streamed page by page, oldest first."""
    from datetime import timedelta

    from orchestrator.domain.money import krw
    from orchestrator.domain.timeutil import to_kst

    async def body(c: Any) -> int:
        for source, ref in await c.directory.accounts(user):
            if ref.account_id != account:
                continue
            end = to_kst(c.clock.now()).date()
            count = 0
            async for tx in source.transactions(ref, end - timedelta(days=days), end):
                count += 1
                sign = "+" if tx.direction.value == "in" else "-"
                after = "" if tx.balance_after is None else f"  balance ₩{krw(tx.balance_after)}"
                typer.echo(
                    f"{to_kst(tx.occurred_at):%Y-%m-%d %H:%M:%S} KST  {sign}₩{krw(tx.amount)}"
                    f"  {tx.description}{after}"
                )
            typer.echo(f"{count} transaction(s) in {days} day(s)")
            return 0
        typer.echo(f"no account {account} configured for {user}", err=True)
        return 1

    raise typer.Exit(with_container(config, body))


@killswitch_app.command("status")
def killswitch_status(config: ConfigOption = None) -> None:
    """Show whether orders and transfers are stopped."""
    from orchestrator.workflows.commands import format_killswitch

    remote = _remote(config, read_only=True)
    if remote is not None:
        typer.echo(format_killswitch(_remote_run(lambda: remote.call("GET", "/api/v1/killswitch"))))
        return

    async def body(c: Any) -> Any:
        return await c.kill_switch.state()

    typer.echo(format_killswitch(with_container(config, body)))


def _set_killswitch(on: bool, reason: str, config: Path | None) -> None:
    from orchestrator.workflows.commands import format_killswitch

    remote = _remote(config)
    if remote is not None:
        body_ = {"on": on, "reason": reason}
        state = _remote_run(lambda: remote.call("POST", "/api/v1/killswitch", json=body_))
        typer.echo(format_killswitch(state))
        return

    async def body(c: Any) -> Any:
        return await c.kill_switch.set(on, reason, "cli")

    typer.echo(format_killswitch(with_container(config, body)))


@killswitch_app.command("on")
def killswitch_on(
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")],
    config: ConfigOption = None,
) -> None:
    """Stop every order and transfer until switched off. Audited."""
    _set_killswitch(True, reason, config)


@killswitch_app.command("off")
def killswitch_off(
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")],
    config: ConfigOption = None,
) -> None:
    """Allow orders and transfers again. Audited."""
    _set_killswitch(False, reason, config)


def _runner(c: Any) -> Any:
    if c.runner is None:
        fail("workflows are disabled or KIS is not configured", 2)
    return c.runner


@workflows_app.command("list")
def workflows_list(config: ConfigOption = None) -> None:
    """Loaded workflows with their schedules and next fire."""
    from orchestrator.workflows import commands

    async def body(c: Any) -> str:
        runner = _runner(c)
        return commands.list_workflows(runner.catalog, now=c.clock.now(), calendar=c.calendar)

    typer.echo(with_container(config, body))


@workflows_app.command("run")
def workflows_run(
    name: str,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan only; send nothing.")] = False,
    config: ConfigOption = None,
) -> None:
    """Run a workflow now (approval-mode workflows stop at a plan awaiting approval)."""
    from orchestrator.workflows import commands

    remote = _remote(config)
    if remote is not None:
        body_ = {"dry_run": dry_run}
        done = _remote_run(
            lambda: remote.call("POST", f"/api/v1/workflows/{_seg(name)}/run", json=body_)
        )
        typer.echo(commands.format_run_out(done))
        return

    async def body(c: Any) -> str:
        runner = _runner(c)
        if not dry_run and c.orders is not None and not c.orders.ready:
            await c.orders.recover()
        return await commands.run(runner, name, dry_run=dry_run)

    typer.echo(with_container(config, body))


@workflows_app.command("approve")
def workflows_approve(run_id: str, config: ConfigOption = None) -> None:
    """Approve a planned run: its orders are sent (once) if it has not expired."""
    from orchestrator.workflows import commands

    remote = _remote(config)
    if remote is not None:
        path = f"/api/v1/workflows/runs/{_seg(run_id)}/approve"
        typer.echo(commands.format_run_out(_remote_run(lambda: remote.call("POST", path))))
        return

    async def body(c: Any) -> str:
        if c.orders is not None and not c.orders.ready:
            await c.orders.recover()
        return await commands.approve(_runner(c), run_id)

    typer.echo(with_container(config, body))


@workflows_app.command("reject")
def workflows_reject(
    run_id: str,
    reason: Annotated[str, typer.Option(help="Why.")] = "",
    config: ConfigOption = None,
) -> None:
    """Reject a planned run: nothing is sent."""
    from orchestrator.workflows import commands

    remote = _remote(config)
    if remote is not None:
        path = f"/api/v1/workflows/runs/{_seg(run_id)}/reject"
        done = _remote_run(lambda: remote.call("POST", path, json={"reason": reason}))
        typer.echo(commands.format_run_out(done))
        return

    async def body(c: Any) -> str:
        return await commands.reject(_runner(c), run_id, reason=reason)

    typer.echo(with_container(config, body))


jobs_app = typer.Typer(no_args_is_help=True, help="Scheduled jobs (they run inside `serve`).")
app.add_typer(jobs_app, name="jobs")
JobArg = Annotated[str, typer.Argument(help="Job id (see `orchestrator jobs list`).")]


def _jobs_direct(config: Path | None, body: Callable[[Any], Coroutine[Any, Any, T]]) -> T:
    """Without a service: the scheduler's records (pause state, runs) in the shared database;
    the scheduler is built, never started, so no job fires from this process."""

    async def go(c: Any) -> T:
        from orchestrator.bootstrap import SchedulerControl, build_scheduler

        return await body(SchedulerControl(build_scheduler(c)))

    return with_container(config, go)


@jobs_app.command("list")
def jobs_list(config: ConfigOption = None) -> None:
    """Each job with its schedule, next fire (KST) and last run, as the jobs API shows them."""
    from orchestrator.jobs_cli import format_jobs

    remote = _remote(config, read_only=True)
    if remote is not None:
        jobs = _remote_run(lambda: remote.call("GET", "/api/v1/jobs"))
    else:

        async def body(control: Any) -> Any:
            return await control.jobs()

        jobs = _jobs_direct(config, body)
    typer.echo(format_jobs(jobs))


@jobs_app.command("runs")
def jobs_runs(
    job: Annotated[str | None, typer.Option(help="Only this job's runs.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
    config: ConfigOption = None,
) -> None:
    """Run history of scheduled fires, newest first."""
    from orchestrator.jobs_cli import format_runs

    remote = _remote(config, read_only=True)
    if remote is not None:
        params: dict[str, Any] = {"limit": limit, **({"job_id": job} if job else {})}
        runs = _remote_run(lambda: remote.call("GET", "/api/v1/jobs/runs", params=params))
    else:

        async def body(control: Any) -> Any:
            return await control.runs(job, limit)

        runs = _jobs_direct(config, body)
    typer.echo(format_runs(runs))


def _job_action(job_id: str, action: str, config: Path | None) -> None:
    from orchestrator.jobs_cli import kst

    remote = _remote(config)
    if remote is not None:
        path = f"/api/v1/jobs/{_seg(job_id)}/{action}"
        done = _remote_run(lambda: remote.call("POST", path))
        typer.echo(f"job {job_id}: {action} " + ("requested" if action == "trigger" else "done"))
        if action == "trigger" and isinstance(done, dict) and done.get("status"):
            typer.echo(f"  run {kst(done.get('scheduled_for'))}: {done['status']}")
        return
    if action == "trigger":
        fail(
            "jobs run inside `orchestrator serve`; start it to run one now "
            "(or `orchestrator reconcile --once` for a reconciliation)",
            2,
        )

    async def body(control: Any) -> None:
        try:
            await getattr(control, action)(job_id, "cli")
        except KeyError:
            fail(f"no job {job_id} (see `orchestrator jobs list`)", 2)

    _jobs_direct(config, body)
    typer.echo(f"job {job_id}: {action} done")


@jobs_app.command("run")
def jobs_run(job_id: JobArg, config: ConfigOption = None) -> None:
    """Run a job now (through the running service; audited)."""
    _job_action(job_id, "trigger", config)


@jobs_app.command("pause")
def jobs_pause(job_id: JobArg, config: ConfigOption = None) -> None:
    """Pause a job on every replica until resumed (audited)."""
    _job_action(job_id, "pause", config)


@jobs_app.command("resume")
def jobs_resume(job_id: JobArg, config: ConfigOption = None) -> None:
    """Resume a paused job (audited)."""
    _job_action(job_id, "resume", config)


breaks_app = typer.Typer(no_args_is_help=True, help="Reconciliation breaks.")
app.add_typer(breaks_app, name="breaks")


def _break_line(b: Any) -> str:
    from orchestrator.domain.money import krw
    from orchestrator.jobs_cli import kst

    figures = ""
    if b.get("expected") is not None or b.get("observed") is not None:
        figures = f" (expected {krw(b.get('expected'))}, observed {krw(b.get('observed'))})"
    ack = f" acknowledged by {b['acknowledged_by']}" if b.get("acknowledged_by") else ""
    note = f": {b['note']}" if b.get("note") else ""
    return (
        f"#{b['id']} {b['status']} {b['kind']} {b['user_id']}/{b['account_id']} [{b['key']}]"
        f"{figures} since {kst(b.get('first_seen_at'))}{ack}{note}\n    {b.get('detail')}"
    )


@breaks_app.command("list")
def breaks_list(
    status: Annotated[
        str, typer.Option(help="open, acknowledged, resolved or active (open or acknowledged).")
    ] = "active",
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    config: ConfigOption = None,
) -> None:
    """Breaks with what was expected and observed, newest first (times KST)."""
    if status not in ("open", "acknowledged", "resolved", "active"):
        fail("--status: one of open, acknowledged, resolved, active", 2)
    remote = _remote(config, read_only=True)
    if remote is not None:
        params = {"status": status, "limit": limit}
        found = _remote_run(lambda: remote.call("GET", "/api/v1/breaks", params=params))
    else:

        async def body(c: Any) -> Any:
            from adapters.db.queries import DbOperatorQueries

            return [dict(b) for b in await DbOperatorQueries(c.db).breaks(status, limit, 0)]

        found = with_container(config, body)
    typer.echo("\n".join(_break_line(b) for b in found) or f"no {status} breaks")


@breaks_app.command("ack")
def breaks_ack(
    break_id: Annotated[int, typer.Argument(help="The break's id (see `breaks list`).", min=1)],
    comment: Annotated[str, typer.Option(help="Why (audited).")],
    config: ConfigOption = None,
) -> None:
    """Acknowledge a break with a comment (audited); it stays active until a run clears it."""
    if not comment.strip():
        fail("--comment: say why (it is audited)", 2)
    remote = _remote(config)
    if remote is not None:
        body_ = {"comment": comment}
        path = f"/api/v1/breaks/{break_id}/acknowledge"
        done = _remote_run(lambda: remote.call("POST", path, json=body_))
        typer.echo(f"#{done['id']} {done['status']} by {done['acknowledged_by']}: {done['note']}")
        return

    async def body(c: Any) -> Any:
        return await c.breaks.acknowledge(break_id, comment, "cli")

    record = with_container(config, body)
    typer.echo(f"#{record.id} {record.status} by {record.acknowledged_by}: {record.note}")


consent_app = typer.Typer(no_args_is_help=True, help="Open-banking consent (audited).")
app.add_typer(consent_app, name="consent")
UserOption = Annotated[str, typer.Option(help="Whose consent.")]


def _consent(c: Any) -> Any:
    if c.openbanking is None:
        fail("no openbanking section in the settings", 2)
    return c.openbanking.consent


def _consent_path(user: str) -> str:
    return f"/api/v1/investors/{_seg(user)}/consent"


@consent_app.command("start")
def consent_start(user: UserOption = "demo", config: ConfigOption = None) -> None:
    """Print the relay's authorization URL for the user to open (state recorded, audited)."""
    remote = _remote(config)
    if remote is not None:
        started = _remote_run(lambda: remote.call("POST", _consent_path(user)))
        typer.echo(_CONSENT_OPEN)
        typer.echo(started["authorize_url"])
        if started.get("browser_url"):
            typer.echo(f"(sandbox: the same page on this service: {started['browser_url']})")
        return

    async def body(c: Any) -> Any:
        return await _consent(c).begin(user, actor="cli")

    started = with_container(config, body)
    typer.echo(_CONSENT_OPEN)
    typer.echo(started.url)


_CONSENT_OPEN = (
    "Open this URL, consent, then run `orchestrator consent finish` with the redirect URL:"
)


@consent_app.command("finish")
def consent_finish(
    redirect_url: Annotated[
        str | None, typer.Argument(help="The URL the relay sent you to.")
    ] = None,
    code: Annotated[
        str | None, typer.Option(help="Authorization code (instead of the URL).")
    ] = None,
    state: Annotated[str | None, typer.Option(help="State (with --code).")] = None,
    user: UserOption = "demo",
    config: ConfigOption = None,
) -> None:
    """Exchange the code the relay returned for tokens (encrypted at rest)."""
    from urllib.parse import parse_qsl, urlsplit

    from orchestrator.consent_cli import as_facts, format_consent

    remote = _remote(config)
    if remote is not None:
        if redirect_url is not None:
            query = dict(parse_qsl(urlsplit(redirect_url).query))
        elif code is not None and state is not None:
            query = {"code": code, "state": state}
        else:
            fail("give the redirect URL, or --code and --state", 2)
        query.setdefault("client_info", user)  # the relay's redirect names the investor so
        path = urlsplit(_callback_uri(config)).path or "/openbanking/callback"
        done = _remote_run(lambda: remote.call("GET", path, params=query))
        typer.echo(format_consent(done))
        return

    async def body(c: Any) -> Any:
        return await _consent(c).finish(user, redirect_url=redirect_url, code=code, state=state)

    typer.echo(format_consent(as_facts(with_container(config, body))))


def _callback_uri(config: Path | None) -> str:
    """Our consent callback (the path of openbanking.redirect_uri), served by `serve`."""
    from adapters.openbanking.settings import OpenBankingSettings

    loaded = _loaded(config, logs=False)
    if not loaded.has("openbanking"):
        fail("no openbanking section in the settings", 2)
    return str(loaded.section("openbanking", OpenBankingSettings).redirect_uri)


@consent_app.command("status")
def consent_status(user: UserOption = "demo", config: ConfigOption = None) -> None:
    """Whether the user's consent is granted and until when (KST)."""
    from orchestrator.consent_cli import as_facts, format_consent

    remote = _remote(config, read_only=True)
    if remote is not None:
        typer.echo(format_consent(_remote_run(lambda: remote.call("GET", _consent_path(user)))))
        return

    async def body(c: Any) -> Any:
        return await _consent(c).status(user)

    typer.echo(format_consent(as_facts(with_container(config, body))))


@consent_app.command("revoke")
def consent_revoke(user: UserOption = "demo", config: ConfigOption = None) -> None:
    """Revoke the user's tokens at the relay and forget them here (audited)."""
    from orchestrator.consent_cli import as_facts, format_consent

    remote = _remote(config)
    if remote is not None:
        done = _remote_run(lambda: remote.call("DELETE", _consent_path(user)))
        typer.echo(format_consent(done))
        return

    async def body(c: Any) -> Any:
        return await _consent(c).revoke(user, actor="cli")

    typer.echo(format_consent(as_facts(with_container(config, body))))


investors_app = typer.Typer(no_args_is_help=True, help="Investors and their accounts (records).")
app.add_typer(investors_app, name="investors")


def _investor_line(i: Any) -> str:
    name = f" {i.display_name}" if i.display_name else ""
    return f"{i.id}{name} [{i.status}]"


def _account_line(a: Any) -> str:
    ref = f" {a.masked_number}" if a.masked_number else ""
    state = "" if a.enabled else " (disabled)"
    over = ""
    if a.overrides:
        over = " overrides " + ",".join(f"{k}={v}" for k, v in sorted(a.overrides.items()))
    return f"  {a.id} via {a.source}{ref} ({a.origin}){state}{over}"


@investors_app.command("import")
def investors_import(
    file: Annotated[Path, typer.Argument(help="Seed YAML (`investors:` or settings `users:`)")],
    config: ConfigOption = None,
) -> None:
    """Create the file's investors and accounts that do not exist yet (idempotent)."""
    from orchestrator.services.investors import parse_seed
    from orchestrator.yamlpos import load_yaml

    try:
        seed = parse_seed(load_yaml(file))
    except ConfigError as e:
        fail(f"configuration error:\n{e}", 2)

    async def body(c: Any) -> Any:
        return await c.investors.import_seed(seed, actor="cli")

    report = with_container(config, body)
    typer.echo(f"{file}: {report.text()}")


@investors_app.command("list")
def investors_list(
    search: Annotated[str | None, typer.Option(help="Id prefix or part of the name.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    cursor: Annotated[str | None, typer.Option(help="next_cursor of the previous page.")] = None,
    config: ConfigOption = None,
) -> None:
    """List investors (cursor-paged, by id)."""

    async def body(c: Any) -> Any:
        return await c.investors.list(limit=limit, cursor=cursor, search=search)

    page = with_container(config, body)
    for investor in page.items:
        typer.echo(_investor_line(investor))
    if page.next_cursor:
        typer.echo(f"(more: --cursor {page.next_cursor})")


@investors_app.command("show")
def investors_show(investor_id: str, config: ConfigOption = None) -> None:
    """One investor with their accounts and (masked) credentials."""

    async def body(c: Any) -> str:
        investor = await c.investors.get(investor_id)
        lines = [_investor_line(investor)]
        lines += [_account_line(a) for a in await c.investors.accounts(investor_id)]
        for cred in await c.investors.store.credentials(investor_id):
            lines.append(f"  credential {cred.institution} ({cred.env}) key {cred.key_suffix}")
        return "\n".join(lines)

    typer.echo(with_container(config, body))


@investors_app.command("attach-kis")
def investors_attach_kis(
    investor_id: str,
    account: Annotated[str, typer.Option(help="CANO-ACNT_PRDT_CD, e.g. 50012345-01.")],
    env: Annotated[str, typer.Option(help="real or paper.")] = "real",
    app_key: Annotated[
        str, typer.Option(envvar="ORCH_KIS_APP_KEY", prompt=True, hide_input=True)
    ] = "",
    app_secret: Annotated[
        str, typer.Option(envvar="ORCH_KIS_APP_SECRET", prompt=True, hide_input=True)
    ] = "",
    config: ConfigOption = None,
) -> None:
    """Attach or rotate the investor's KIS app key (asked for, or from ORCH_KIS_APP_KEY /
    ORCH_KIS_APP_SECRET; never an argument, which shell history would keep). Proven by issuing
    a token first: a refusal shows KIS's code and message and stores nothing (exit 2)."""

    async def body(c: Any) -> Any:
        try:
            return await c.investors.attach_kis(
                investor_id,
                app_key=app_key,
                app_secret=app_secret,
                account=account,
                env=env,
                actor="cli",
            )
        except ValueError as e:
            fail(f"error: {e}", 2)

    cred = with_container(config, body)
    typer.echo(f"{investor_id}: kis ({cred.env}) key {cred.key_suffix} attached")


@investors_app.command("detach")
def investors_detach(investor_id: str, institution: str, config: ConfigOption = None) -> None:
    """Delete the investor's credential at the institution (audited)."""

    async def body(c: Any) -> bool:
        return bool(await c.investors.detach(investor_id, institution, actor="cli"))

    if not with_container(config, body):
        fail(f"{investor_id} has no {institution} credential", 1)
    typer.echo(f"{investor_id}: {institution} credential deleted")


@investors_app.command("discover")
def investors_discover(investor_id: str, config: ConfigOption = None) -> None:
    """Register the accounts the sources find (open banking: account/list after consent)."""

    async def body(c: Any) -> str:
        accounts = await c.investors.discover(investor_id, actor="cli")
        return "\n".join([investor_id, *(_account_line(a) for a in accounts)])

    typer.echo(with_container(config, body))


@investors_app.command("view")
def investors_view(investor_id: str, config: ConfigOption = None) -> None:
    """The consolidated view: every institution's accounts, with cash and holdings value from
    the newest reconciliation where it was read."""
    from adapters.db.queries import DbOperatorQueries

    async def body(c: Any) -> str:
        investor = await c.investors.get(investor_id)
        found = await DbOperatorQueries(c.db).latest_portfolio(investor_id) or {}
        cash = found.get("cash_by_institution") or {}
        held = found.get("securities_by_institution") or {}
        lines = [_investor_line(investor)]
        by_institution: dict[str, list[Any]] = {}
        for account in await c.investors.accounts(investor_id):
            by_institution.setdefault(account.institution or account.source, []).append(account)
        for code, accounts in sorted(by_institution.items()):
            label = _institution_label(code)
            figures = [
                f"{what} {table[label]}"
                for what, table in (("cash", cash), ("holdings", held))
                if label in table
            ]
            lines.append(f"{code} {label}: {', '.join(figures) or 'not read'}")
            lines += [_account_line(a) for a in accounts]
        if found:
            lines.append(f"total {found.get('total')} (run {found.get('run_id')})")
        else:
            lines.append("no finished reconciliation yet")
        return "\n".join(lines)

    typer.echo(with_container(config, body))


def _institution_label(code: str) -> str:
    from orchestrator.domain.model import Institution

    try:
        return Institution(code).name.lower()
    except ValueError:
        return code


@investors_app.command("create")
def investors_create(
    investor_id: str,
    name: Annotated[str, typer.Option("--name", help="Display name.")] = "",
    config: ConfigOption = None,
) -> None:
    """Onboard an investor (exit 1 naming the existing one when the id is taken)."""

    async def body(c: Any) -> Any:
        try:
            return await c.investors.create(investor_id, name, actor="cli")
        except ValueError as e:
            fail(f"error: {e}", 2)

    typer.echo(f"created {_investor_line(with_container(config, body))}")


@investors_app.command("disable")
def investors_disable(
    investor_id: str,
    reason: Annotated[str, typer.Option(help="Why (audited).")] = "",
    config: ConfigOption = None,
) -> None:
    """Offboard: stop their work, revoke consent, delete credentials; keep audit and history."""

    async def body(c: Any) -> Any:
        return await c.investors.disable(investor_id, actor="cli", reason=reason)

    typer.echo(f"disabled {_investor_line(with_container(config, body))}")


@app.command()
def serve(
    config: ConfigOption = None,
    worker: Annotated[
        bool,
        typer.Option(
            "--worker/--no-worker",
            help="On PostgreSQL also run a task worker in this process (default on).",
        ),
    ] = True,
) -> None:
    """Run the service: scheduler and operator API (and on PostgreSQL a task worker).

    Before any recovery, reconciliation or job runs, it binds its port and (on SQLite) takes the
    database's single-instance guard; a second `serve` exits 2 with one line and changes nothing.
    """
    import uvicorn

    from orchestrator import bootstrap

    loaded = _loaded(config)
    settings = loaded.settings
    sock = _bind(settings.api.host, settings.api.port)
    guard = _instance_guard(settings)

    async def go() -> None:
        container = bootstrap.build(loaded)
        async with bootstrap.running(container, worker=worker):
            api = bootstrap.build_api(container)
            config = uvicorn.Config(
                api, log_config=None, access_log=False, ws=bootstrap.websocket_protocol()
            )
            server = uvicorn.Server(config)
            await server.serve(sockets=[sock])

    try:
        run_async(go)
    finally:
        sock.close()
        if guard is not None:
            guard.close()


def _bind(host: str, port: int) -> Any:
    """The listening socket, bound first so a busy port is found before anything runs."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    # As uvicorn does: a restart may rebind while old connections sit in TIME_WAIT; two live
    # listeners on one port are still refused (that needs SO_REUSEPORT).
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as e:
        sock.close()
        fail(
            f"error: cannot listen on {host}:{port} ({e.strerror}; another `orchestrator serve`?); "
            "nothing was changed",
            2,
        )
    sock.setblocking(False)
    return sock


def _instance_guard(settings: Any) -> Any:
    """On SQLite, the database's single-instance guard (None on PostgreSQL: replicas are fine)."""
    from adapters.db.instance import InstanceGuard, sqlite_file

    db_file = sqlite_file(settings.database.url)
    if db_file is None:
        return None
    got = InstanceGuard.acquire(db_file, f"http://{settings.api.host}:{settings.api.port}")
    if isinstance(got, InstanceGuard):
        return got
    fail(
        f"error: another `orchestrator serve` (pid {got.pid or '?'}, {got.url or '?'}) "
        f"already runs on {db_file}; nothing was changed",
        2,
    )
    raise AssertionError("unreachable")


@app.command("worker")
def worker_command(
    config: ConfigOption = None,
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, max=256, help="Tasks run at once (default tasks.worker_concurrency)."),
    ] = None,
) -> None:
    """Run a task worker (PostgreSQL): per-investor tasks of every fire, on any machine.

    SIGTERM / Ctrl-C stop taking tasks and let the running ones finish."""
    from orchestrator import bootstrap

    loaded = _loaded(config)

    async def go() -> None:
        container = bootstrap.build(loaded)
        try:
            if await bootstrap.open_task_engine(container) is None:
                raise ConfigError(
                    "orchestrator worker needs database.url on PostgreSQL: on SQLite the "
                    "tasks run in-process inside serve"
                )
            await bootstrap.work(container, concurrency=concurrency, signals=True)
        finally:
            await container.close()

    run_async(go)


demo_app = typer.Typer(no_args_is_help=True, help="The sandbox demo world.")
app.add_typer(demo_app, name="demo")


@demo_app.command("reset")
def demo_reset(
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    config: ConfigOption = None,
) -> None:
    """Wipe the ledger and both sandbox worlds together (sandbox mode only); start over."""
    from adapters.db import migrate
    from adapters.db.engine import Database
    from adapters.db.instance import running_holder, sqlite_file
    from orchestrator.bootstrap import sandbox_world_path

    settings = _loaded(config, logs=False).settings
    if settings.mode != "sandbox":
        fail(f"demo reset works in sandbox mode only (this configuration is {settings.mode})", 2)
    db_file = sqlite_file(settings.database.url)
    if db_file is None:
        fail("demo reset wipes an SQLite ledger only (database.url is not SQLite)", 2)
        return
    holder = running_holder(db_file)
    if holder is not None:
        fail(f"a service (pid {holder.pid or '?'}) runs on {db_file}: stop it first", 2)
    world = sandbox_world_path(settings)
    targets = [db_file, *([] if world is None else [world])]
    if not yes and not typer.confirm(
        f"wipe {' and '.join(str(t) for t in targets)} and start a fresh demo world?"
    ):
        fail("nothing was changed", 1)
    for target in targets:
        for path in (target, *(target.with_name(target.name + s) for s in ("-wal", "-shm"))):
            path.unlink(missing_ok=True)

    async def go() -> None:
        db = Database(settings.database.url)
        try:
            await migrate.upgrade(db)
        finally:
            await db.dispose()

    run_async(go)
    typer.echo("demo reset: a fresh ledger and fresh sandbox worlds (seeded on the next start)")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as e:  # the last line of defence: nothing unmasked escapes
        sys.exit(report_crash(e))


def report_crash(error: BaseException, stream: Any = None) -> int:
    """Print an unexpected error masked like the logs (tracebacks quote SQL parameters, URLs and
    headers); returns the exit code. A mistake of the caller is one line, never a traceback."""
    import traceback

    from orchestrator.logging import scrub_text

    stream = stream or sys.stderr
    if isinstance(error, ConfigError):
        print(scrub_text(f"configuration error:\n{error}"), file=stream)
        return 2
    if isinstance(error, OrchestratorError):
        print(scrub_text(f"error: {error}"), file=stream)
        return 1
    text = "".join(traceback.format_exception(error))
    print(scrub_text(f"internal error (a bug; please report it):\n{text}"), file=stream)
    return 1


if __name__ == "__main__":
    main()
