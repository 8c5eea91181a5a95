"""`orchestrator sandbox kis|openbanking|kiwoom --port N` serve the stand-ins on a loopback port."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx
import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("command", "probe", "expected"),
    [
        (["kis"], "/_sandbox/accounts", "PSdemoAppKeyReal00000000000000000001"),
        (["kis", "--env", "paper"], "/_sandbox/accounts", "PSdemoAppKeyPaper0000000000000000001"),
        (["openbanking"], "/_sandbox/users", "sandbox-demo-client-id"),
        (["kiwoom"], "/_sandbox/state", '"env": "real"'),
        (["kiwoom", "--env", "mock"], "/_sandbox/state", '"env": "mock"'),
    ],
)
def test_sandbox_command_serves_on_a_loopback_port(
    command: list[str], probe: str, expected: str
) -> None:
    """The CLI serves each sandbox; a plain HTTP client sees its demo credentials."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "sandbox", *command, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:  # wait for the server to come up (bounded), not for time to pass
            try:
                response = httpx.get(f"http://127.0.0.1:{port}{probe}", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, "the sandbox process exited"
                assert time.monotonic() < deadline, "the sandbox did not start"
                time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    assert response.status_code == 200
    assert expected in response.text
