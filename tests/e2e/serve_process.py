"""`orchestrator serve` as a real process on a temporary SQLite and a free loopback port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from orchestrator.settings import DEMO_API_KEY

OPERATOR = {"Authorization": f"Bearer {DEMO_API_KEY}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def environment(tmp: Path, port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "ORCH_DATABASE__URL": f"sqlite+aiosqlite:///{tmp / 'svc.db'}",
            "ORCH_SECURITY__SANDBOX_KEY_FILE": str(tmp / "key"),
            "ORCH_API__PORT": str(port),
            # Judge our own fills at once instead of waiting out the too-recent window.
            "ORCH_RECONCILIATION__TOO_RECENT_SECONDS": "0",
            "ORCH_LOGGING__FORMAT": "json",
        }
    )
    return env


def orchestrator(
    env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@dataclass
class Service:
    env: dict[str, str]
    port: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    _log: Any = field(default=None, repr=False)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "orchestrator", "serve"],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        # Generous: the shared CI machine may be loaded; the loop ends as soon as the run is done.
        deadline = time.monotonic() + 300
        while True:  # bounded wait for the start-up reconciliation, not for time to pass
            assert self.proc.poll() is None, self.log_path.read_text()
            assert time.monotonic() < deadline, "the service did not finish starting"
            try:
                status = httpx.get(f"{self.base}/api/v1/status", headers=OPERATOR, timeout=2)
                runs = httpx.get(f"{self.base}/api/v1/jobs/runs", headers=OPERATOR, timeout=2)
            except httpx.TransportError:
                time.sleep(0.05)
                continue
            # One start-up reconciliation per start: this start's has finished when there are
            # as many finished ones as starts in the log.
            finished = [
                r for r in runs.json() if r["requested_by"] == "startup" and r["finished_at"]
            ]
            starts = self.log_path.read_text().count('"service.started"')
            if status.status_code == 200 and starts and len(finished) >= starts:
                return
            time.sleep(0.05)

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=60)
        self._log.close()
        self.proc = None
        return code

    def events(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log_path.read_text().splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if isinstance(item, dict):
                out.append(item)
        return out

    def get(self, path: str) -> Any:
        reply = httpx.get(f"{self.base}{path}", headers=OPERATOR, timeout=30)
        assert reply.status_code == 200, reply.text
        return reply.json()
