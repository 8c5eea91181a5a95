"""The KIS websocket session against the sandbox over loopback: notices drive order state,
reconnects fill the gap from the order list exactly once, prices feed valuation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette

from adapters.db.engine import Database
from adapters.db.orders import DbOrderJournal
from adapters.fake import FakeClock, FakeTokenVault
from adapters.http import ResilienceSettings, build_resilience
from adapters.kis import build_kis, frames
from adapters.kis.settings import KisSettings
from adapters.kis.stream import KisStream, StreamingMarketData, StreamMetrics, StreamPrices
from adapters.sandbox.kis import create_app
from adapters.sandbox.kis.realtime import encrypt
from orchestrator.domain.model import AccountRef, OrderEvent, OrderState, OrderType, Quote, Side
from orchestrator.services.orders import OrderRequest, OrderService
from tests.adapters.kis.conftest import SESSION_TIME, demo_settings, shared_time
from tests.support.databases import cipher_for_tests
from tests.support.served import served

WAIT = 5.0


class Recorder:
    """The order service as the stream's sink, recording what it was given."""

    def __init__(self, service: OrderService) -> None:
        self.service = service
        self.events: list[OrderEvent] = []
        self.resumed = 0
        self.changed = asyncio.Condition()

    async def on_order_event(self, event: OrderEvent) -> object:
        result = await self.service.on_order_event(event)
        async with self.changed:
            self.events.append(event)
            self.changed.notify_all()
        return result

    async def on_stream_resumed(self, account: AccountRef) -> int:
        filled = await self.service.on_stream_resumed(account)
        async with self.changed:
            self.resumed += 1
            self.changed.notify_all()
        return filled

    async def until(self, condition: Callable[[], bool]) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(condition), WAIT)


@dataclass
class Live:
    app: Starlette
    time: FakeClock
    paths: list[str]
    settings: KisSettings
    stream: KisStream
    service: OrderService
    sink: Recorder
    account: AccountRef
    market: Any
    gate: asyncio.Event = field(default_factory=asyncio.Event)

    async def lever(self, **body: Any) -> None:
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as raw:
            response = await raw.post("/_sandbox/websocket", json=body)
        assert response.status_code == 200, response.text

    def list_reads(self) -> int:
        return self.paths.count("/uapi/domestic-stock/v1/trading/inquire-daily-ccld")


@pytest.fixture
async def live(db: Database, seed_data: dict[str, Any]) -> AsyncIterator[Live]:
    timeline, clock = shared_time()
    app = create_app(
        env="real", seed=seed_data, clock=clock, sleep=timeline.sleep, ws_heartbeat_seconds=None
    )
    hts_id = next(iter(app.state.broker.apps.values())).resolved_hts_id
    async with served(app) as port:
        settings = await demo_settings(
            app,
            base_url=f"http://127.0.0.1:{port}",
            realtime={
                "url": f"ws://127.0.0.1:{port}/tryitout",
                "hts_id": hts_id,
                "symbols": ["005930"],
            },
        )
        resilience = build_resilience(
            ResilienceSettings(backoff_jitter_seconds=0),
            registry=CollectorRegistry(),
            clock=timeline,
            sleep=timeline.sleep,
            limiter_timer=timeline.monotonic,
        )
        paths: list[str] = []

        async def record(request: httpx.Request) -> None:
            paths.append(request.url.path)

        async with httpx.AsyncClient(event_hooks={"request": [record]}) as http:
            kis = build_kis(settings, resilience, FakeTokenVault(), http, clock=timeline)
            account = (await kis.accounts.accounts("demo"))[0]
            journal = DbOrderJournal(db, cipher_for_tests())
            metrics = StreamMetrics()
            service = OrderService(
                journal,
                kis.executor,
                timeline,
                sleep=timeline.sleep,
                notice_latency=metrics.observe_latency,
            )
            await service.recover()
            sink = Recorder(service)
            holder: dict[str, Live] = {}

            async def gated_sleep(seconds: float) -> None:
                await holder["live"].gate.wait()  # reconnects wait for the test's say-so
                await timeline.sleep(seconds)

            stream = KisStream(
                settings, kis.client, account, clock=timeline, sleep=gated_sleep, metrics=metrics
            )
            market = StreamingMarketData(kis.market, stream.prices, timeline, timedelta(seconds=5))
            world = Live(app, timeline, paths, settings, stream, service, sink, account, market)
            holder["live"] = world
            world.gate.set()
            task = asyncio.create_task(stream.run(sink))
            await asyncio.wait_for(stream.connected.wait(), WAIT)
            await sink.until(lambda: sink.resumed == 1)
            try:
                yield world
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        await resilience.aclose()


def market_buy(key: str, account: AccountRef, qty: int = 3) -> OrderRequest:
    return OrderRequest(key, account, "005930", Side.BUY, qty, order_type=OrderType.MARKET)


async def test_a_fill_notice_marks_the_order_filled_without_polling(live: Live) -> None:
    """The fill reaches order state and the fill ledger through the notice alone: no order
    list is read after the stream's first gap fill."""
    reads = live.list_reads()
    placed = await live.service.place(market_buy("ws-1", live.account))
    await live.sink.until(lambda: any(e.kind.value == "filled" for e in live.sink.events))
    record = await live.service.get(placed.id)
    fills = await live.service.fills(placed.id)
    order = live.app.state.broker.book.find(record.broker_order_id)

    assert record is not None
    assert (record.state, record.filled_quantity) == (OrderState.FILLED, 3)
    assert [f.quantity for f in fills] == [3]
    assert record.avg_fill_price == Decimal(order.filled_amount) / 3
    assert live.list_reads() == reads
    # Timed once, by the stream or (when it beat the reply and was held) by the order service.
    assert len(live.stream.metrics.latencies) == 1


async def test_a_dropped_connection_reconnects_and_fills_the_gap_once(live: Live) -> None:
    """The session drops before the fill notice goes out; after the reconnect and
    re-subscription the fill comes from the order list, recorded exactly once, and later
    notices are not counted again."""
    live.gate.clear()
    await live.lever(drop_after_frames=1)  # the acknowledgement goes out, the fill does not
    placed = await live.service.place(market_buy("ws-2", live.account))
    await asyncio.wait_for(live.stream.disconnected.wait(), WAIT)
    live.gate.set()
    await live.sink.until(lambda: live.sink.resumed == 2)
    record = await live.service.get(placed.id)
    fills = await live.service.fills(placed.id)
    # The sandbox sends no notice twice; a repeat of the fill (as after a replay) is ignored.
    order_id = record.broker_order_id if record else ""
    replay = OrderEvent(
        kind=frames.OrderEventKind.FILLED,
        account_id=live.account.account_id,
        order_id=order_id or "",
        symbol="005930",
        side=Side.BUY,
        quantity=3,
        price=Decimal(70000),
        at=live.time.now(),
    )
    await live.service.on_order_event(replay)
    after = await live.service.fills(placed.id)

    assert record is not None
    assert (record.state, record.filled_quantity) == (OrderState.FILLED, 3)
    assert [f.quantity for f in fills] == [3] == [f.quantity for f in after]
    assert live.stream.metrics.reconnects._value.get() == 1  # type: ignore[attr-defined]
    assert live.stream.metrics.gaps_filled._value.get() == 1  # type: ignore[attr-defined]
    # The fill notice was lost with the connection: the fill came from the list alone.
    assert [e.kind.value for e in live.sink.events if e.order_id == order_id] == ["accepted"]


async def test_stream_prices_feed_quotes_until_stale(live: Live) -> None:
    """A fresh stream price is served (source "stream", dated); a stale one falls back to
    the REST quote."""
    await live.sink.until(lambda: live.stream.prices.get("005930") is not None)
    fresh = await live.market.quote("005930")
    live.time.advance(10)  # older than the 5 s bound; no new frame is read meanwhile
    live.stream.prices.update("005930", fresh.price, live.time.now() - timedelta(seconds=6))
    stale = await live.market.quote("005930")

    assert isinstance(fresh, Quote)
    assert fresh.source == "stream"
    assert live.time.now() - fresh.as_of >= timedelta(0)
    assert stale.source == ""


async def test_pingpong_is_echoed_so_the_session_stays(live: Live) -> None:
    """Two heartbeat rounds: the adapter echoed the first, so the second does not drop it."""
    await live.lever(heartbeat=True)
    for _ in range(1000):  # the echo crosses a real socket; yield until the server has it
        transport = httpx.ASGITransport(app=live.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as raw:
            state = (await raw.get("/_sandbox/websocket")).json()
        if not state["sessions"][0]["awaiting_echo"]:
            break
        await asyncio.sleep(0)
    await live.lever(heartbeat=True)

    assert state["sessions"][0]["awaiting_echo"] is False
    assert live.app.state.broker.realtime.dropped == 0


def test_a_wrong_key_or_iv_is_a_clear_error() -> None:
    """A notice decrypted with another session's key fails its padding, or with another iv
    (CBC garbles the first block only) fails the HTS ID check: both say to use this
    connection's subscribe-reply key and iv. A key of the wrong length is refused."""
    record = "^".join(["myhts", "5001234501", "0000000001", *(["0"] * 23)])
    payload = encrypt("k" * 32, "i" * 16, record)
    today = SESSION_TIME.date()

    def read(key: str, iv: str) -> object:
        text = frames.Decryptor(key, iv).decrypt(payload)
        return frames.notice(text, "kis-real", "5001234501", today, "myhts")

    with pytest.raises(frames.NoticeDecryptError, match="key/iv"):
        read("K" * 32, "i" * 16)
    with pytest.raises(frames.NoticeDecryptError, match="key/iv"):
        read("k" * 32, "I" * 16)
    with pytest.raises(frames.NoticeDecryptError, match="key/iv"):
        frames.Decryptor("short", "i" * 16)
    assert frames.Decryptor("k" * 32, "i" * 16).decrypt(payload) == record


def test_fresh_stream_prices_are_dated_quotes_within_the_bound() -> None:
    """What portfolio valuation takes from the stream: prices no older than the bound, as
    quotes marked "stream" with their time; older ones are left to the account read."""
    prices = StreamPrices()
    now = SESSION_TIME
    prices.update("005930", Decimal(71_000), now - timedelta(seconds=4))
    prices.update("000660", Decimal(150_000), now - timedelta(seconds=6))

    fresh = prices.fresh(now, timedelta(seconds=5))

    assert list(fresh) == ["005930"]
    assert fresh["005930"] == Quote(
        "005930", Decimal(71_000), now - timedelta(seconds=4), source="stream"
    )


class _NoSink:
    async def on_order_event(self, event: OrderEvent) -> object:
        return None

    async def on_stream_resumed(self, account: AccountRef) -> int:
        return 0


async def test_symbols_in_use_are_subscribed_and_a_refused_one_is_dropped(
    seed_data: dict[str, Any],
) -> None:
    """Spec §7.2: trades of the symbols in use (here the account's holdings, besides the
    configured ones) are subscribed at connect; a symbol the gateway refuses (OPSP8992) is
    dropped from the session, whose notices and other prices go on."""
    timeline, clock = shared_time()
    app = create_app(
        env="real", seed=seed_data, clock=clock, sleep=timeline.sleep, ws_heartbeat_seconds=None
    )
    hts_id = next(iter(app.state.broker.apps.values())).resolved_hts_id
    asked: list[int] = []

    async def in_use() -> list[str]:
        asked.append(1)
        return ["005930", "069500", "999999", "not-a-code"]

    async with served(app) as port, httpx.AsyncClient() as http:
        settings = await demo_settings(
            app,
            base_url=f"http://127.0.0.1:{port}",
            realtime={
                "url": f"ws://127.0.0.1:{port}/tryitout",
                "hts_id": hts_id,
                "symbols": ["005930"],
            },
        )
        resilience = build_resilience(
            ResilienceSettings(backoff_jitter_seconds=0),
            registry=CollectorRegistry(),
            clock=timeline,
            sleep=timeline.sleep,
            limiter_timer=timeline.monotonic,
        )
        kis = build_kis(settings, resilience, FakeTokenVault(), http, clock=timeline)
        account = (await kis.accounts.accounts("demo"))[0]
        stream = KisStream(
            settings, kis.client, account, clock=timeline, sleep=timeline.sleep,
            symbols_in_use=in_use,
        )  # fmt: skip
        task = asyncio.create_task(stream.run(_NoSink()))
        try:
            await asyncio.wait_for(stream.connected.wait(), WAIT)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as raw:
                state = (await raw.get("/_sandbox/websocket")).json()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await resilience.aclose()

    (session,) = state["sessions"]
    assert sorted(map(tuple, session["subscriptions"])) == [
        ("H0STCNI0", hts_id),
        ("H0STCNT0", "005930"),
        ("H0STCNT0", "069500"),
    ]
    assert stream.symbols == ("005930", "069500")
    assert asked == [1]
    assert stream.sessions == 1
