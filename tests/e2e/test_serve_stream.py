"""`serve` with KIS real time on: the websocket session reaches the KIS sandbox mounted on the
service's own port (/sandbox/kis), and a fill reaches the order's state through its notice
alone. Nothing polls: the schedule is empty, and the order-list reads are counted."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from tests.e2e.serve_process import OPERATOR, Service, environment, free_port, orchestrator

pytestmark = pytest.mark.slow

DEMO_HTS_ID = "sbx00000001"  # the default sandbox seed's HTS ID of the demo app key
LIST_READS = re.compile(
    r'^orchestrator_upstream_requests_total\{[^}]*endpoint="kis\.inquire_daily_ccld"[^}]*\}'
    r" ([0-9.e+]+)$",
    re.MULTILINE,
)

TIMED = re.compile(r"^kis_stream_notice_to_state_seconds_count ([0-9.e+]+)$", re.MULTILINE)


@dataclass
class Served(Service):
    config: Path = Path()


@pytest.fixture
def service(tmp_path: Path) -> Served:
    """The embedded default, plus `kis.realtime.hts_id` and an empty schedule."""
    config = yaml.safe_load(Path("config/orchestrator.yaml").read_text(encoding="utf-8"))
    config["kis"]["realtime"] = {"hts_id": DEMO_HTS_ID}
    config["scheduler"]["jobs"] = []  # no reconciliation, no order upkeep
    config.setdefault("service", {})["reconcile_on_start"] = False
    path = tmp_path / "orchestrator.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    port = free_port()
    env = environment(tmp_path, port)
    upgraded = orchestrator(env, "db", "upgrade", "--config", str(path))
    assert upgraded.returncode == 0, upgraded.stderr
    return Served(env, port, tmp_path / "serve.log", config=path)


def _until(svc: Service, done: Callable[[], object], what: str, seconds: float = 120) -> None:
    """Bounded wait on a process that runs on its own (`done` is re-evaluated each round)."""
    deadline = time.monotonic() + seconds
    while not done():
        assert svc.proc is not None
        assert svc.proc.poll() is None, svc.log_path.read_text()
        assert time.monotonic() < deadline, f"{what}:\n{svc.log_path.read_text()[-4000:]}"
        time.sleep(0.05)


def _events(svc: Service, name: str) -> list[dict[str, object]]:
    return [e for e in svc.events() if e.get("event") == name]


def _metrics(svc: Service) -> str:
    reply = httpx.get(f"{svc.base}/metrics", headers=OPERATOR, timeout=30)
    assert reply.status_code == 200, reply.text
    return reply.text


def _timed(svc: Service) -> float:
    found = TIMED.search(_metrics(svc))
    return -1.0 if found is None else float(found.group(1))


def _list_reads(svc: Service) -> float:
    return sum(float(n) for n in LIST_READS.findall(_metrics(svc)))


def _order(svc: Service, intent_id: str) -> dict[str, object]:
    found = [o for o in svc.get("/api/v1/orders") if o["id"] == intent_id]
    assert len(found) == 1
    return dict(found[0])


def test_a_fill_reaches_order_state_through_the_stream(service: Served) -> None:
    """The session subscribes through /sandbox/kis on the API port (no `kis.realtime.url`
    given), fills the gap once, and the market buy's fill notice makes it FILLED with its fill
    recorded, while the order list is not read again."""
    service._log = service.log_path.open("ab")
    service.proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "serve", "--config", str(service.config)],
        env=service.env,
        stdout=service._log,
        stderr=subprocess.STDOUT,
    )
    try:
        _until(service, lambda: _events(service, "orders.stream_gap_filled"), "no stream")
        reads = _list_reads(service)
        placed = httpx.post(
            f"{service.base}/api/v1/orders",
            headers={**OPERATOR, "Idempotency-Key": "stream-e2e-1"},
            json={"symbol": "005930", "side": "buy", "quantity": 2},
            timeout=30,
        )
        assert placed.status_code in (200, 201), placed.text
        intent_id = str(placed.json()["id"])
        _until(service, lambda: _order(service, intent_id)["state"] == "filled", "not filled", 60)
        order = _order(service, intent_id)
        reads_after = _list_reads(service)
        # Timed just after the fill's write commits; another request may read it first.
        _until(service, lambda: _timed(service) >= 1, "no notice timed")
        timed = _timed(service)
        subscribed = _events(service, "kis.stream.subscribed")
        recorded = _events(service, "orders.fill_recorded")
    finally:
        service.stop()

    assert subscribed
    assert order["filled_quantity"] == 2
    assert len(recorded) == 1
    assert reads_after == reads  # the fill came from the notice, not from the order list
    assert timed == 1  # the stream's metrics are served with the service's
