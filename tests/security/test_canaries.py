"""Secrets canary suite: plant secrets and personal data on every path, then look for them
everywhere they must not be.

Planted or harvested: the configured vendor credentials (KIS app key and secret, the KIS account
number, the Kiwoom keys, the KFTC client secret), both API keys, the local encryption key, every
token the sandboxes issued (decrypted from the token store), and canaries sent in through the API
(an operator's kill-switch reason quoting a token, an account number and a phone number) and through
vendor errors (a broker refusal and a lost reply quoting them). Scanned: every log line, every GET
reply of the API for both roles, /metrics, the CLI's output and every column of every table. The
figures (values planted, places scanned, canaries found) go to the session summary.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import re
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import structlog
from sqlalchemy import select
from sqlmodel import SQLModel
from typer.testing import CliRunner

import adapters.db.tables  # noqa: F401 - registers every table on SQLModel.metadata
from adapters.db import migrate
from adapters.db.engine import Database
from adapters.db.orders import DbOrderJournal
from adapters.db.tables import StoredSecretRow
from adapters.fake import FakeClock, FakeNotifier, FakeOrderExecutor
from orchestrator import bootstrap
from orchestrator.cli import app as cli_app
from orchestrator.cli import report_crash
from orchestrator.domain.errors import OrderOutcomeUnknown, OrderRejected
from orchestrator.logging import configure_logging, mask_name
from orchestrator.services.order_sending import OrderPolicy
from orchestrator.services.orders import OrderService
from orchestrator.settings import DEMO_API_KEY, load_settings
from tests.orders.conftest import START, buy
from tests.support.databases import cipher_for_tests
from tests.support.figures import add

VIEWER_KEY = "demo-viewer-key-sandbox-only"
# Canaries: shaped like the real thing (a KIS account number, a mobile number, a token), unique
# enough that any occurrence is a leak.
TOKEN = "cnryTok3nQx9Lw2Zp7Vb"
SECRET = "cnrySecr3tHm4Jd8Kf"
ACCOUNT = "73519246-01"
PHONE = "010-4729-3816"
NAME = "홍카나리"
# Where a value may be kept on purpose: ciphertext of tokens and credentials, and the hashes of
# the audit chain (hex, never plaintext).
CIPHER_COLUMNS = frozenset(
    {("stored_secrets", "ciphertext"), ("institution_credentials", "ciphertext")}
)


def _forms(value: str) -> set[str]:
    """A value and the forms it could leak in: an account number with or without its dash."""
    forms = {value}
    digits = re.sub(r"\D", "", value)
    if len(digits) >= 10 and len(digits) >= len(value) - 2:
        forms.add(digits)
    return {f for f in forms if len(f) >= 6}


@dataclass
class Canaries:
    values: dict[str, str] = field(default_factory=dict)  # value -> what it is
    found: list[str] = field(default_factory=list)
    scanned: int = 0

    def plant(self, what: str, value: str | None) -> None:
        if value:
            for form in _forms(value):
                self.values[form] = what

    def scan(self, where: str, text: str) -> None:
        self.scanned += 1
        for value, what in self.values.items():
            if value in text:
                self.found.append(f"{what} in {where}")

    def scan_all(self, items: Iterable[tuple[str, str]]) -> None:
        for where, text in items:
            self.scan(where, text)


def _secret(value: object) -> str | None:
    getter = getattr(value, "get_secret_value", None)
    return str(getter()) if getter is not None else (None if value is None else str(value))


async def _database_text(db: Database) -> list[tuple[str, str]]:
    """Every cell of every table as text (ciphertext columns left out)."""
    cells: list[tuple[str, str]] = []
    async with db.session() as session:
        for table in SQLModel.metadata.sorted_tables:
            rows = (await session.execute(select(table))).mappings().all()
            for row in rows:
                for column, value in row.items():
                    if (table.name, column) in CIPHER_COLUMNS or value is None:
                        continue
                    cells.append((f"db {table.name}.{column}", json.dumps(value, default=str)))
    return cells


@pytest.fixture
def log_stream() -> Iterable[io.StringIO]:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream)
    yield stream
    structlog.reset_defaults()


@contextlib.asynccontextmanager
async def _serve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, log_stream: io.StringIO
) -> AsyncIterator[tuple[bootstrap.Container, httpx.AsyncClient]]:
    """The service as `make run` wires it, on a temporary SQLite, logging into `log_stream`."""
    monkeypatch.setenv("ORCH_DATABASE__URL", f"sqlite+aiosqlite:///{tmp_path / 'canary.db'}")
    monkeypatch.setenv("ORCH_SECURITY__SANDBOX_KEY_FILE", str(tmp_path / "key"))
    monkeypatch.setenv("ORCH_SANDBOX__EXPOSE", "false")
    settings = load_settings(Path("config/orchestrator.yaml"))
    container = bootstrap.build(settings, notifier=FakeNotifier())
    configure_logging("INFO", "json", stream=log_stream)  # build() configured its own
    await migrate.upgrade(container.db)
    async with bootstrap.running(container):
        transport = httpx.ASGITransport(app=bootstrap.build_api(container))
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            yield container, client
    await container.close()


SECRET_FIELDS = ("app_key", "app_secret", "secret_key", "client_secret", "account")


def _configured(value: object) -> str | None:
    """The plain value of a configured secret reference (`literal:...`)."""
    text = _secret(value)
    if text is None or not text.startswith("literal:"):
        return None
    return text.removeprefix("literal:")


def _harvest_config(canaries: Canaries, container: bootstrap.Container, tmp: Path) -> None:
    s = container.settings
    sections = {"kis": s.kis, "openbanking": s.openbanking, **s.brokers}
    for section, values in sections.items():
        for name in SECRET_FIELDS:
            canaries.plant(f"{section} {name}", _configured(values.get(name)))
    canaries.plant("operator API key", DEMO_API_KEY)
    canaries.plant("viewer API key", VIEWER_KEY)
    key_file = tmp / "key"
    if key_file.exists():
        canaries.plant("encryption key", key_file.read_text().strip())


async def _harvest_tokens(canaries: Canaries, container: bootstrap.Container) -> int:
    """Every token the sandboxes issued, decrypted from the token store."""
    async with container.db.session() as session:
        rows = (await session.execute(select(StoredSecretRow))).scalars().all()
    for row in rows:
        plain = container.cipher.decrypt(row.ciphertext)
        try:
            data = json.loads(plain)
        except ValueError:
            data = plain
        fields = data.items() if isinstance(data, dict) else [("value", data)]
        for name, value in fields:
            if "token" in name and isinstance(value, str) and len(value) >= 16:
                canaries.plant(f"stored token {row.key} {name}", value)
    return len(rows)


def _plant_requests(canaries: Canaries) -> str:
    canaries.plant("planted token", TOKEN)
    canaries.plant("planted secret", SECRET)
    canaries.plant("planted account number", ACCOUNT)
    canaries.plant("planted phone number", PHONE)
    return (
        f"broker called: account {ACCOUNT}, call {PHONE}, token={TOKEN} "
        f'{{"appsecret": "{SECRET}"}} Authorization: Bearer {TOKEN}'
    )


async def _get_every_route(client: httpx.AsyncClient, key: str) -> list[tuple[str, str]]:
    """Every GET of the OpenAPI without path parameters, plus each listed item's own page."""
    headers = {"Authorization": f"Bearer {key}"}
    spec = (await client.get("/openapi.json")).json()
    replies: list[tuple[str, str]] = []
    for path, operations in spec["paths"].items():
        if "get" not in operations or "{" in path:
            continue
        reply = await client.get(path, headers=headers)
        replies.append((f"GET {path}", reply.text))
    for path, item in (("/api/v1/orders", "/api/v1/orders/{}"),):
        listed = (await client.get(path, headers=headers)).json()
        for entry in listed if isinstance(listed, list) else []:
            reply = await client.get(item.format(entry["id"]), headers=headers)
            replies.append((f"GET {item}", reply.text))
    replies.append(("GET /metrics", (await client.get("/metrics", headers=headers)).text))
    return replies


async def test_no_canary_in_logs_replies_cli_or_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, log_stream: io.StringIO
) -> None:
    """Config secrets, issued tokens and planted canaries appear nowhere they must not."""
    canaries = Canaries()
    reason = _plant_requests(canaries)
    operator = {"Authorization": f"Bearer {DEMO_API_KEY}"}
    async with _serve(tmp_path, monkeypatch, log_stream) as (container, client):
        _harvest_config(canaries, container, tmp_path)
        switched = await client.post(
            "/api/v1/killswitch", json={"on": True, "reason": reason}, headers=operator
        )
        assert switched.status_code == 200, switched.text
        run = await client.post("/api/v1/reconciliations", headers=operator)
        assert run.status_code in (200, 202), run.text
        order = await client.post(  # refused: the kill switch is on; the refusal quotes it
            "/api/v1/orders",
            json={"symbol": "005930", "side": "buy", "quantity": 1},
            headers={**operator, "Idempotency-Key": "canary-1"},
        )
        assert order.status_code == 409, order.text
        tokens = await _harvest_tokens(canaries, container)
        replies = [("POST /api/v1/killswitch", switched.text), ("POST /api/v1/orders", order.text)]
        for key in (DEMO_API_KEY, VIEWER_KEY):
            replies += await _get_every_route(client, key)
        cells = await _database_text(container.db)
    # The CLI runs its own event loop and sandbox world: in a thread, once the service stopped.
    cli = await asyncio.to_thread(CliRunner().invoke, cli_app, ["killswitch", "status"])
    assert cli.exit_code == 0, cli.output
    assert "ON" in cli.output or "True" in cli.output, cli.output
    lines = log_stream.getvalue().splitlines()
    assert any("kill_switch_set" in line for line in lines)  # the logs were captured
    canaries.scan_all(replies)
    canaries.scan("CLI killswitch status", cli.output)
    canaries.scan_all(cells)
    canaries.scan_all(("log", line) for line in lines)

    add(
        "secrets canary suite",
        values=len(canaries.values),
        stored_tokens=tokens,
        replies=len(replies),
        db_cells=len(cells),
        log_lines=len(lines),
        found=len(canaries.found),
    )
    assert tokens > 0  # tokens were issued and harvested, so the scan looked for them
    assert canaries.found == []


async def test_vendor_errors_quoting_secrets_are_masked_in_journal_audit_and_logs(
    db: Database, log_stream: io.StringIO
) -> None:
    """A broker refusal and a lost reply that quote an account number, a token and a phone number
    are kept masked: order_intents, audit_events, the returned record and the log lines."""
    canaries = Canaries()
    text = _plant_requests(canaries)
    clock = FakeClock(START)
    broker = FakeOrderExecutor("fake-kis", clock.now)
    journal = DbOrderJournal(db, cipher_for_tests())

    async def no_sleep(seconds: float) -> None:
        clock.advance(seconds)

    service = OrderService(
        journal, broker, clock, sleep=no_sleep, policy=OrderPolicy(ready_wait_seconds=0.0)
    )
    await service.recover()
    broker.fail_next(OrderRejected("fake-kis", text, code="APBK0952"))
    rejected = await service.place(buy("canary-rejected"))
    broker.fail_next(OrderOutcomeUnknown("fake-kis", f"read timeout on /x?access_token={TOKEN}"))
    unknown = await service.place(buy("canary-lost"))

    assert rejected.last_error is not None
    assert "APBK0952" in (rejected.reject_code or "")
    assert unknown.last_error is not None or unknown.resolved_at is not None
    cells = await _database_text(db)
    lines = log_stream.getvalue().splitlines()
    canaries.scan_all(cells)
    canaries.scan_all(("log", line) for line in lines)
    canaries.scan("returned record", f"{rejected!r} {unknown!r}")
    add("secrets canary suite", vendor_error_cells=len(cells), found=len(canaries.found))

    assert any("order_intents.last_error" in where for where, _ in cells)
    assert "4601" in (rejected.last_error or "")  # masked, not dropped: the last digits stay
    assert canaries.found == []


def test_person_names_are_masked_but_instrument_names_stay_readable() -> None:
    """A stock's `name` is read by operators; a holder's name is personal data."""
    from orchestrator.logging import mask_reply

    reply = mask_reply(
        {
            "positions": [{"symbol": "005930", "name": "삼성전자"}],
            "account_holder_name": NAME,
            "display_name": NAME,
            "prdt_name": "KODEX 200",
        }
    )

    assert reply["positions"][0]["name"] == "삼성전자"
    assert reply["prdt_name"] == "KODEX 200"
    assert reply["account_holder_name"] == mask_name(NAME)
    assert reply["display_name"] == mask_name(NAME)


def test_a_crash_traceback_quoting_secrets_is_printed_masked() -> None:
    """The CLI's last line of defence: an unexpected error whose traceback quotes a token, an
    account number and a phone number (as SQL parameters and URLs do) prints them masked."""
    canaries = Canaries()
    text = _plant_requests(canaries)
    stream = io.StringIO()

    def fail() -> None:
        raise RuntimeError(f"INSERT failed [parameters: ('{ACCOUNT}', '{PHONE}')] {text}")

    try:
        fail()
    except RuntimeError as e:
        code = report_crash(e, stream)
    canaries.scan("CLI crash report", stream.getvalue())
    add("secrets canary suite", crash_reports=1, found=len(canaries.found))

    assert code == 1
    assert "Traceback" in stream.getvalue()  # the report is there, masked
    assert canaries.found == []
