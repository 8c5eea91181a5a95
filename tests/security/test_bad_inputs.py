"""The bad-input corpus (bad_inputs.yaml), one parametrised test per kind of input.

Each case must give a clear error naming the field (files: also the file and the line), exit code
2 or the listed HTTP 4xx, never a traceback or a 500, and write nothing: the row count of every
table is the same before and after (tables only background jobs write are left out, so that a
scheduled job cannot make the comparison flaky). Figures go to the session summary.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import yaml
from sqlalchemy import func, select
from sqlmodel import SQLModel
from typer.testing import CliRunner

import adapters.db.tables  # noqa: F401 - registers every table on SQLModel.metadata
from adapters.db import migrate
from adapters.db.engine import Database
from adapters.fake import FakeNotifier
from orchestrator import bootstrap
from orchestrator.cli import app as cli_app
from orchestrator.settings import DEMO_API_KEY, load_settings
from tests.support.figures import add

CORPUS: dict[str, list[dict[str, Any]]] = yaml.safe_load(
    (Path(__file__).parent / "bad_inputs.yaml").read_text(encoding="utf-8")
)
CONFIG = Path("config/orchestrator.yaml")
WORKFLOWS = Path("config/workflows")
# Written by the scheduler's own jobs (runs, tokens, snapshots, consent upkeep, the start-up
# reconciliation), not by requests.
BACKGROUND_TABLES = frozenset(
    {
        "job_runs",
        "job_run_items",
        "job_state",
        "stored_secrets",
        "snapshots",
        "consents",
        "reconciliation_runs",
        "breaks",
        "transactions",
        "bank_tran_ids",
    }
)
runner = CliRunner()


def _ids(kind: str) -> list[Any]:
    return [pytest.param(case, id=case["id"]) for case in CORPUS[kind]]


def _edited(source: Path, case: dict[str, Any], target: Path) -> int:
    """Write `source` with the case's one-line edit to `target`; return the edited line."""
    old, new = case["replace"]
    lines = source.read_text(encoding="utf-8").splitlines()
    assert lines.count(old) == 1, f"{case['id']}: {old!r} is not one line of {source}"
    at = lines.index(old)
    lines[at] = new
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return at + 1


def _assert_file_error(result: Any, case: dict[str, Any], target: Path, line: int) -> None:
    output = result.output
    assert result.exit_code == 2, output
    assert "Traceback" not in output
    assert f"{target}:{line}:" in output, output
    assert case["field"] in output, output
    assert case["message"] in output, output


async def _counts(db: Database) -> dict[str, int]:
    async with db.session() as session:
        return {
            table.name: int(
                (await session.execute(select(func.count()).select_from(table))).scalar_one()
            )
            for table in SQLModel.metadata.sorted_tables
            if table.name not in BACKGROUND_TABLES
        }


@pytest.mark.parametrize("case", _ids("config"))
def test_bad_config_is_refused_naming_file_line_and_field(
    case: dict[str, Any], tmp_path: Path
) -> None:
    target = tmp_path / "orchestrator.yaml"
    line = _edited(CONFIG, case, target) + case.get("line_offset", 0)

    result = runner.invoke(cli_app, ["config", "check", str(target)])

    _assert_file_error(result, case, target, line)
    add("bad-input corpus", cases=1, config=1)


@pytest.mark.parametrize("case", _ids("workflow"))
def test_bad_workflow_is_refused_naming_file_line_and_field(
    case: dict[str, Any], tmp_path: Path
) -> None:
    target = tmp_path / case["file"]
    line = _edited(WORKFLOWS / case["file"], case, target) + case.get("line_offset", 0)

    result = runner.invoke(cli_app, ["workflows", "validate", str(target)])

    _assert_file_error(result, case, target, line)
    add("bad-input corpus", cases=1, workflow=1)


@pytest.fixture(scope="module")
def _environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    tmp = tmp_path_factory.mktemp("bad-inputs")
    mp = pytest.MonkeyPatch()
    mp.setenv("ORCH_DATABASE__URL", f"sqlite+aiosqlite:///{tmp / 'cli.db'}")
    mp.setenv("ORCH_SECURITY__SANDBOX_KEY_FILE", str(tmp / "key"))
    mp.setenv("ORCH_SANDBOX__EXPOSE", "false")
    yield tmp
    mp.undo()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(_environment: Path) -> AsyncIterator[tuple[Database, httpx.AsyncClient]]:
    """One service for every API case (as `make run` wires it), on its own SQLite (the CLI's
    cases use another: a running service holds its sandbox world)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ORCH_DATABASE__URL", f"sqlite+aiosqlite:///{_environment / 'api.db'}")
        settings = load_settings(CONFIG)
    container = bootstrap.build(settings, notifier=FakeNotifier())
    await migrate.upgrade(container.db)
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(bootstrap.running(container))
        transport = httpx.ASGITransport(app=bootstrap.build_api(container))
        client = await stack.enter_async_context(
            httpx.AsyncClient(transport=transport, base_url="http://svc")
        )
        yield container.db, client
    await container.close()


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("case", _ids("api"))
async def test_bad_request_is_a_4xx_naming_the_field_and_writes_nothing(
    case: dict[str, Any], api: tuple[Database, httpx.AsyncClient]
) -> None:
    db, client = api
    headers = {"Authorization": f"Bearer {DEMO_API_KEY}", **case.get("headers", {})}
    before = await _counts(db)

    reply = await client.request(
        case["method"],
        case["path"],
        headers=headers,
        json=case.get("json"),
        content=case.get("content"),
        params=[tuple(p) for p in case.get("params", [])],
    )

    assert reply.status_code == case["status"], reply.text
    body = reply.json()
    assert set(body) == {"detail", "error"}, body  # the one documented error shape
    assert case["message"] in body["detail"], body
    assert await _counts(db) == before
    add("bad-input corpus", cases=1, api=1)


@pytest.fixture(scope="module")
def cli_database(_environment: Path) -> str:
    """The CLI's own database, upgraded and seeded once (its first run provisions the demo)."""
    assert runner.invoke(cli_app, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(cli_app, ["orders", "list"]).exit_code == 0
    return f"sqlite+aiosqlite:///{_environment / 'cli.db'}"


def _cli_counts(url: str) -> dict[str, int]:
    async def count() -> dict[str, int]:
        db = Database(url)
        try:
            return await _counts(db)
        finally:
            await db.dispose()

    return asyncio.run(count())


@pytest.mark.parametrize("case", _ids("cli"))
def test_bad_cli_arguments_exit_2_naming_the_option_and_write_nothing(
    case: dict[str, Any], cli_database: str
) -> None:
    before = _cli_counts(cli_database)

    result = runner.invoke(cli_app, case["args"])

    assert result.exit_code == case["exit"], result.output
    assert "Traceback" not in result.output
    assert case["message"] in result.output, result.output
    assert _cli_counts(cli_database) == before
    add("bad-input corpus", cases=1, cli=1)
