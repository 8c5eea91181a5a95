"""Shared fixtures. No test may open a socket to anything but loopback."""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from adapters.db.engine import Database
from tests.support.databases import fresh_database

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _loopback_only(address: Any) -> None:
    if isinstance(address, tuple) and address:
        host = address[0]
        if host in ("localhost", ""):
            return
        try:
            if ipaddress.ip_address(host).is_loopback:
                return
        except ValueError:
            pass
        raise RuntimeError(f"tests may only connect to loopback, not {host!r}")


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def connect(self: socket.socket, address: Any) -> Any:
        _loopback_only(address)
        return _real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> Any:
        _loopback_only(address)
        return _real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated empty database, once on SQLite and once on the real PostgreSQL."""
    async with fresh_database(request.param, tmp_path) as database:
        yield database


_BACKEND_OUTCOMES: dict[str, dict[str, int]] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Count outcomes of database-parametrized tests per engine (for the summary below)."""
    if report.when != "call" and not (report.when == "setup" and report.skipped):
        return
    for backend in ("sqlite", "postgres"):
        if f"[{backend}" in report.nodeid or f"-{backend}]" in report.nodeid:
            counts = _BACKEND_OUTCOMES.setdefault(backend, {})
            counts[report.outcome] = counts.get(report.outcome, 0) + 1


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Show that the store suites really ran on both engines (skips would be visible here), and
    the figures the proof suites measured."""
    from tests.support.figures import FIGURES

    if FIGURES:
        terminalreporter.section("proof suites")
        for suite, values in sorted(FIGURES.items()):
            line = ", ".join(f"{k}={v}" for k, v in values.items())
            terminalreporter.write_line(f"{suite}: {line}")
    if not _BACKEND_OUTCOMES:
        return
    terminalreporter.section("database engines")
    for backend, counts in sorted(_BACKEND_OUTCOMES.items()):
        figures = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
        terminalreporter.write_line(f"{backend}: {figures}")


def _logging_state() -> tuple[dict[str, Any], list[logging.Handler], int]:
    root = logging.getLogger()
    return structlog.get_config(), list(root.handlers), root.level


# The logging set-up before any test ran. Restoring what a test found is not enough: a module-
# or session-scoped fixture runs before the per-test fixture below, and when it invokes the CLI
# (which configures logging onto the runner's stream, closed after the call) every later test
# would get that closed stream back ("I/O operation on closed file").
_BASELINE = _logging_state()


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """CLI commands and `bootstrap.build` configure logging onto their own streams; put the
    session's original set-up back after each test."""
    yield
    config, handlers, level = _BASELINE
    structlog.configure(**config)
    root = logging.getLogger()
    root.handlers[:] = handlers
    root.setLevel(level)
