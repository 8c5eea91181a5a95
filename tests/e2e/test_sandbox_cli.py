"""`orchestrator sandbox kis|openbanking|kiwoom --port N` serve the stand-ins on a loopback port."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

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
    command: list[str], probe: str, expected: str, tmp_path: Path
) -> None:
    """The CLI serves each sandbox; a plain HTTP client sees its demo credentials."""
    port = _free_port()
    proc = _start([*command, "--state", str(tmp_path / "world.db")], port)
    try:
        response = _wait_up(proc, f"http://127.0.0.1:{port}{probe}")
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    assert response.status_code == 200
    assert expected in response.text


def _start(args: list[str], port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "sandbox", *args, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_up(proc: subprocess.Popen[bytes], url: str) -> httpx.Response:
    deadline = time.monotonic() + 30
    while True:  # wait for the server to come up (bounded), not for time to pass
        try:
            return httpx.get(url, timeout=1)
        except httpx.TransportError:
            assert proc.poll() is None, "the sandbox process exited"
            assert time.monotonic() < deadline, "the sandbox did not start"
            time.sleep(0.05)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL])
def test_a_served_kis_sandbox_keeps_its_world_across_restarts(
    tmp_path: Path, stop: signal.Signals
) -> None:
    """`--state FILE`: a token issued before a SIGTERM or kill -9 is still valid after it."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    state = ["kis", "--state", str(tmp_path / "kis.db")]
    proc = _start(state, port)
    try:
        app = _wait_up(proc, f"{base}/_sandbox/accounts").json()["apps"][0]
        creds = {"appkey": app["appkey"], "appsecret": app["appsecret"]}
        token = httpx.post(
            f"{base}/oauth2/tokenP", json={"grant_type": "client_credentials", **creds}
        ).json()["access_token"]
    finally:
        proc.send_signal(stop)
        proc.wait(timeout=10)

    again = _start(state, port)
    try:
        _wait_up(again, f"{base}/_sandbox/accounts")
        price = httpx.get(
            f"{base}/uapi/domestic-stock/v1/quotations/inquire-price",
            params={"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": "005930"},
            headers={"authorization": f"Bearer {token}", "tr_id": "FHKST01010100", **creds},
        )
    finally:
        again.terminate()
        again.wait(timeout=10)

    assert price.status_code == 200, price.text
    assert price.json()["rt_cd"] == "0"


def test_two_sandboxes_on_one_state_file_refuse_with_one_line(tmp_path: Path) -> None:
    port = _free_port()
    state = ["kis", "--state", str(tmp_path / "kis.db")]
    first = _start(state, port)
    try:
        _wait_up(first, f"http://127.0.0.1:{port}/_sandbox/accounts")
        second = subprocess.run(
            [sys.executable, "-m", "orchestrator", "sandbox", *state, "--port", str(_free_port())],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        first.terminate()
        first.wait(timeout=10)

    assert second.returncode == 2
    assert second.stderr.strip().count("\n") == 0
    assert "in use by another process" in second.stderr
