"""The world of bench.reconcile_throughput: N users, each with a Samsung Securities CMA at the
open-banking sandbox and a brokerage account at the KIS sandbox, both served over loopback.

`kis_seed` / `openbanking_seed` build the sandbox seeds; `SandboxProcess` serves one sandbox with
uvicorn in a subprocess on 127.0.0.1 (a free port). The subprocess stops by itself when its stdin
closes (the parent exited or called `stop()`) or after `lifetime` seconds, whichever comes first.

    python -m bench._recon_world kis|openbanking SEED.json LIFETIME_SECONDS
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
CLIENT_ID = "bench-recon-client"
CLIENT_SECRET = "bench-recon-secret-NOT-REAL"
CLIENT_USE_CODE = "T990000007"
REDIRECT_URI = "http://127.0.0.1:8000/openbanking/callback"
_SYMBOLS: tuple[dict[str, Any], ...] = (
    {"pdno": "005930", "name": "삼성전자", "base_price": 71000},
    {"pdno": "000660", "name": "SK하이닉스", "base_price": 180000},
    {"pdno": "035420", "name": "NAVER", "base_price": 190000},
    {"pdno": "069500", "name": "KODEX 200", "base_price": 35000, "kind": "etf"},
)


def user_id(i: int) -> str:
    return f"u{i:04d}"


def kis_account(i: int) -> str:
    return f"{60_000_000 + i:08d}-01"


def kis_app_key(i: int) -> str:
    """36 characters, as KIS issues them."""
    return f"PSbenchReconAppKey{i:018d}"


def kis_app_secret(i: int) -> str:
    """180 characters, as KIS issues them."""
    return f"BenchReconSecret{i:08d}".ljust(180, "x")


def fintech_use_num(i: int) -> str:
    """24 digits, the relay's id of the user's registered Samsung CMA."""
    return f"120261123{i:015d}"


def kis_seed(users: int, *, shared_key: bool, key_group: int = 1) -> dict[str, Any]:
    """The real environment at 18/s per app key; one app key per account unless `shared_key`
    (one for all) or `key_group` > 1 (accounts i // key_group share app key i // key_group)."""
    accounts = [
        {
            "cano": kis_account(i)[:8],
            "acnt_prdt_cd": "01",
            "cash": 5_000_000 + 10_000 * i,
            "holdings": [
                {"pdno": "005930", "qty": 10 + i % 7, "avg_price": "70500"},
                {"pdno": "069500", "qty": 20 + i % 5, "avg_price": "34800"},
            ],
        }
        for i in range(users)
    ]
    if shared_key:
        apps = [
            {
                "appkey": kis_app_key(0),
                "appsecret": kis_app_secret(0),
                "accounts": [kis_account(i) for i in range(users)],
            }
        ]
    else:
        groups: dict[int, list[str]] = {}
        for i in range(users):
            groups.setdefault(i // key_group, []).append(kis_account(i))
        apps = [
            {"appkey": kis_app_key(g), "appsecret": kis_app_secret(g), "accounts": accounts}
            for g, accounts in groups.items()
        ]
    return {
        "seed": 20261123,
        "start": None,
        "symbols": list(_SYMBOLS),
        "envs": {"real": {"rate_limit_per_second": 18, "apps": apps, "accounts": accounts}},
    }


def openbanking_seed(users: int) -> dict[str, Any]:
    """One registered client; every user has one Samsung CMA with 80 rows of history."""
    return {
        "clients": [
            {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "client_use_code": CLIENT_USE_CODE,
                "name": "정산 벤치마크",
                "redirect_uris": [REDIRECT_URI],
                "scopes": ["login", "inquiry"],
            }
        ],
        "users": [
            {
                "id": user_id(i),
                "user_seq_no": f"{1_100_000_000 + i}",
                "user_name": "김벤치",
                "user_ci": f"CI-BENCH-RECON-FAKE-{i:06d}",
                "accounts": [
                    {
                        "fintech_use_num": fintech_use_num(i),
                        "bank_code_std": "240",
                        "bank_code_sub": "2400001",
                        "account_num": f"7100{i:010d}",
                        "account_alias": "삼성증권 CMA",
                        "account_type": "T",
                        "product_name": "CMA(RP형)",
                        "account_issue_date": "20210412",
                        "balance_amt": 3_000_000 + 1_000 * i,
                        "inquiry_agree_dtime": "20260101120000",
                        "history": {"seed": 1000 + i, "count": 80, "days": 120},
                    }
                ],
            }
            for i in range(users)
        ],
    }


class SandboxProcess:
    """One sandbox (`kis` or `openbanking`) under uvicorn in a subprocess, until `stop()`."""

    def __init__(self, kind: str, seed: dict[str, Any], *, lifetime_seconds: float) -> None:
        with tempfile.NamedTemporaryFile(
            "w", suffix=".json", prefix=f"bench-{kind}-", delete=False, encoding="utf-8"
        ) as fh:
            json.dump(seed, fh, ensure_ascii=False)
            self._seed_path = Path(fh.name)
        self.kind = kind
        lifetime = str(lifetime_seconds)
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench._recon_world", kind, str(self._seed_path), lifetime],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()  # the child prints its port once it listens
        if not line.strip().isdigit():
            self.stop()
            raise RuntimeError(f"{kind} sandbox did not start (exit {self._process.poll()})")
        self.base_url = f"http://127.0.0.1:{int(line)}"
        self._ps = psutil.Process(self._process.pid)

    def cpu_seconds(self) -> float:
        times = self._ps.cpu_times()
        return float(times.user + times.system)

    def stop(self) -> None:
        if self._process.stdin is not None and not self._process.stdin.closed:
            self._process.stdin.close()  # EOF: the server shuts down by itself
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=5)
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._seed_path.unlink(missing_ok=True)


def _serve(kind: str, seed_path: Path, lifetime: float) -> None:
    import uvicorn

    seed = json.loads(seed_path.read_text(encoding="utf-8"))
    seed_path.unlink(missing_ok=True)  # read once; nothing is left behind if the parent dies
    if kind == "kis":
        from adapters.sandbox.kis import SandboxClock
        from adapters.sandbox.kis import create_app as create_kis

        clock = SandboxClock()
        # Orders in the scale-out runs need an open session whatever the hour (SANDBOX_SESSION).
        clock.set_session(os.environ.get("SANDBOX_SESSION", "auto"))
        app = create_kis(env="real", seed=seed, clock=clock)
    elif kind == "openbanking":
        from adapters.sandbox.openbanking import create_app as create_openbanking

        app = create_openbanking(seed=seed)
    else:
        raise SystemExit(f"unknown sandbox {kind!r}")
    # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted sockets only then, and
    # without it uvicorn's separate header and body writes meet delayed ACKs (40 ms a reply).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)  # connections queue from here on, before uvicorn takes the socket
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    )

    def stop() -> None:
        server.should_exit = True

    def watch_stdin() -> None:
        sys.stdin.read()  # returns at EOF: the parent closed the pipe or is gone
        stop()

    threading.Thread(target=watch_stdin, daemon=True).start()
    timer = threading.Timer(lifetime, stop)
    timer.daemon = True
    timer.start()
    print(sock.getsockname()[1], flush=True)
    server.run(sockets=[sock])


if __name__ == "__main__":
    _serve(sys.argv[1], Path(sys.argv[2]), float(sys.argv[3]))
