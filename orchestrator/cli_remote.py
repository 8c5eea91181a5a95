"""The CLI's way to the running service: find it, and send state-changing commands to its API.

When `serve` runs for the same configuration (on SQLite: the process holding the database's
single-instance guard, which records its URL; on PostgreSQL: the configured API port answering),
orders, reconciliations and kill-switch changes go through its HTTP API, so locks, audit and logs
live in one process. Otherwise the CLI works on the same durable world directly. Either way it
says which in one line on stderr.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import httpx

from orchestrator.domain.errors import ConfigError, InvalidInput, OrchestratorError
from orchestrator.settings import DEMO_API_KEY, Settings

KEY_ENV = "ORCH_CLI_API_KEY"


class ServiceError(OrchestratorError):
    """The service refused or failed the command; the message is its own."""


def find_service(settings: Settings) -> str | None:
    """The base URL of the service that owns this configuration's database, if one runs."""
    from adapters.db.instance import running_holder, sqlite_file

    db_file = sqlite_file(settings.database.url)
    if db_file is not None:
        holder = running_holder(db_file)
        return None if holder is None else holder.url
    base = f"http://{settings.api.host}:{settings.api.port}"
    try:
        httpx.get(f"{base}/healthz", timeout=0.5).raise_for_status()
    except httpx.HTTPError:
        return None
    return base


@dataclass
class Remote:
    base: str
    key: str

    @classmethod
    def for_settings(cls, base: str, settings: Settings) -> Remote:
        key = os.environ.get(KEY_ENV) or (DEMO_API_KEY if settings.mode == "sandbox" else "")
        if not key:
            raise ConfigError(
                f"a service runs at {base}: set {KEY_ENV} to an operator API key so the CLI "
                "can send this command through it"
            )
        return cls(base.rstrip("/"), key)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.key}", **kwargs.pop("headers", {})}
        try:
            reply = httpx.request(
                method, f"{self.base}{path}", headers=headers, timeout=120, **kwargs
            )
        except httpx.HTTPError as e:
            raise ServiceError(f"the service at {self.base} did not answer: {e}") from None
        if reply.status_code == 422:
            raise InvalidInput(_field(reply), _detail(reply))
        if reply.status_code >= 400:
            raise ServiceError(f"the service answered {reply.status_code}: {_detail(reply)}")
        return reply.json()

    def wait_reconciliation(self, progress: str, limit: float = 600.0) -> dict[str, Any]:
        """Poll the run's progress; after two seconds say what is awaited (elapsed/limit)."""
        import sys

        echo = sys.stderr.write
        start = time.monotonic()
        shown = 0.0
        while True:
            found: dict[str, Any] = self.call("GET", progress)
            if found["status"] not in ("queued", "running"):
                return found
            elapsed = time.monotonic() - start
            if elapsed > limit:
                raise ServiceError(f"the reconciliation did not finish within {limit:.0f} s")
            if elapsed > 2 and elapsed - shown >= 2:
                shown = elapsed
                echo(
                    f"waiting for reconciliation {found.get('run_id') or ''}: "
                    f"{found['done']}/{found['total']} users, {elapsed:.0f}/{limit:.0f} s\n"
                )
            time.sleep(0.2)


def _detail(reply: httpx.Response) -> str:
    try:
        body = reply.json()
    except ValueError:
        return reply.text[:300]
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, list):
        return "; ".join(
            f"{'.'.join(str(p) for p in d.get('loc', [])[1:])}: {d.get('msg')}" for d in detail
        )
    return str(detail)


def _field(reply: httpx.Response) -> str:
    try:
        detail = reply.json().get("detail")
    except (ValueError, AttributeError):
        return "request"
    if isinstance(detail, list) and detail and detail[0].get("loc"):
        return str(detail[0]["loc"][-1])
    if isinstance(detail, str) and ":" in detail:
        return detail.split(":", 1)[0]
    return "request"
