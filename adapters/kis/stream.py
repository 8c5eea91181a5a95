"""One real-time websocket session per app key (spec §2.4, §7.2): approval key, subscriptions
for the account's HTS ID (execution notices) and the configured symbols (trades), decryption,
PINGPONG echoes, reconnect with capped backoff and re-subscription.

After every (re)subscription the sink fills the gap from the broker's order list; notices are
then applied as they come. Polling stays the safety net: nothing here is needed for
correctness, only for speed. Trade prices go to `StreamPrices`, which `StreamingMarketData`
serves while fresh (marked `source="stream"` and dated), falling back to the REST quote.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import WebSocketException

from adapters.kis import frames
from adapters.kis.client import KisClient
from adapters.kis.settings import KisSettings
from orchestrator.domain.errors import SourceError
from orchestrator.domain.model import AccountRef, Quote
from orchestrator.domain.timeutil import to_kst
from orchestrator.ports import Clock, MarketData
from orchestrator.ports.upstream import OrderEventSink

log = structlog.get_logger(__name__)

Sleep = Callable[[float], Any]
# The symbols in use beyond the configured ones (e.g. the account's holdings), asked for at
# every (re)connect.
SymbolsInUse = Callable[[], Awaitable[Sequence[str]]]
_SYMBOL = re.compile(r"^(Q\d{6}|\d{6})$")
_SESSION_ROOM = 40  # registrations per session (spec §7.2)


class Socket(Protocol):
    async def send(self, message: str) -> None: ...
    async def recv(self) -> str | bytes: ...


Connect = Callable[[str], AbstractAsyncContextManager[Socket]]


def default_connect(url: str) -> AbstractAsyncContextManager[Socket]:
    # Protocol-level pings stay on (KIS also sends its own PINGPONG text, echoed below).
    return ws_connect(url, open_timeout=10, max_queue=4096)


class StreamRefused(SourceError):
    """KIS refused a subscription (OPSP…): reconnecting as-is would not help at once."""


class StreamPrices:
    """Last trade price per symbol, with the time it was received."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[Decimal, datetime]] = {}

    def update(self, symbol: str, price: Decimal, at: datetime) -> None:
        self._last[symbol] = (price, at)

    def get(self, symbol: str) -> tuple[Decimal, datetime] | None:
        return self._last.get(symbol)

    def fresh(self, now: datetime, stale_after: timedelta) -> dict[str, Quote]:
        """The prices no older than `stale_after`, as dated quotes marked `source="stream"`."""
        return {
            symbol: Quote(symbol, price, at, source="stream")
            for symbol, (price, at) in self._last.items()
            if now - at <= stale_after
        }


class StreamingMarketData:
    """MarketData from the stream while its price is fresh, else from `rest`."""

    def __init__(
        self, rest: MarketData, prices: StreamPrices, clock: Clock, stale_after: timedelta
    ) -> None:
        self._rest = rest
        self._prices = prices
        self._clock = clock
        self._stale_after = stale_after

    async def quote(self, symbol: str) -> Quote:
        last = self._prices.get(symbol)
        if last is not None and self._clock.now() - last[1] <= self._stale_after:
            return Quote(symbol, last[0], last[1], source="stream")
        return await self._rest.quote(symbol)


class StreamMetrics:
    """Reconnects, gaps filled, frames decoded, notice-to-state latency (Prometheus and kept
    in memory for benchmarks)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry or CollectorRegistry()
        self.reconnects = Counter(
            "kis_stream_reconnects", "Websocket reconnections", registry=registry
        )
        self.gaps_filled = Counter(
            "kis_stream_gap_fills", "Orders brought up to date after a reconnect", registry=registry
        )
        self.frames = Counter("kis_stream_frames", "Data frames decoded", registry=registry)
        self.undecodable = Counter(
            "kis_stream_undecodable_frames", "Frames that could not be decoded", registry=registry
        )
        self.latency = Histogram(
            "kis_stream_notice_to_state_seconds",
            "From a notice's arrival to the order state being updated",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0),
            registry=registry,
        )
        self.latencies: deque[float] = deque(maxlen=100_000)
        self.resubscribe_seconds: deque[float] = deque(maxlen=1_000)

    def observe_latency(self, seconds: float) -> None:
        """One notice applied `seconds` after it arrived (also fed by the order service for
        notices it held until their order's own reply was recorded)."""
        self.latency.observe(seconds)
        self.latencies.append(seconds)


class KisStream:
    """The websocket session of one KIS app key and its account (an OrderEventStream)."""

    def __init__(
        self,
        settings: KisSettings,
        client: KisClient,
        account: AccountRef,
        *,
        clock: Clock,
        sleep: Sleep = asyncio.sleep,
        prices: StreamPrices | None = None,
        metrics: StreamMetrics | None = None,
        connect: Connect = default_connect,
        symbols_in_use: SymbolsInUse | None = None,
    ) -> None:
        self._settings = settings
        self._client = client
        self._account = account
        self._clock = clock
        self._sleep = sleep
        self.prices = prices or StreamPrices()
        self.metrics = metrics or StreamMetrics()
        self._connect = connect
        self._digits = settings.account.get_secret_value().replace("-", "")
        self._notice_tr = frames.NOTICE_TRS[settings.env]
        self._decryptor: frames.Decryptor | None = None
        self._approval: str | None = None
        self._symbols_in_use = symbols_in_use
        self._symbols: tuple[str, ...] = settings.realtime.symbols
        self.connected = asyncio.Event()
        self.disconnected = asyncio.Event()
        self.sessions = 0

    @property
    def account(self) -> AccountRef:
        return self._account

    @property
    def symbols(self) -> tuple[str, ...]:
        """The symbols whose trades this session subscribes (configured first, then in use)."""
        return self._symbols

    def _wanted(self) -> list[tuple[str, str]]:
        rt = self._settings.realtime
        wanted = [(self._notice_tr, rt.hts_id)] if rt.hts_id else []
        return wanted + [(frames.TRADES, symbol) for symbol in self._symbols]

    async def _choose_symbols(self) -> None:
        """Configured symbols, then those in use, within the session's 40 registrations."""
        rt = self._settings.realtime
        chosen = list(rt.symbols)
        if self._symbols_in_use is not None:
            try:
                extra = await self._symbols_in_use()
            except SourceError as e:  # prices only: go on with the configured symbols
                log.warning("kis.stream.symbols_unavailable", error=str(e))
                extra = ()
            chosen += [s for s in extra if _SYMBOL.match(s) and s not in chosen]
        room = _SESSION_ROOM - (1 if rt.hts_id else 0)
        if len(chosen) > room:
            log.warning("kis.stream.symbols_capped", wanted=len(chosen), kept=room)
        self._symbols = tuple(chosen[:room])

    async def run(self, sink: OrderEventSink) -> None:
        """Connect, subscribe, deliver; on any loss reconnect after 1 s, 2 s, 4 s … (capped)."""
        rt = self._settings.realtime
        failures = 0
        while True:
            try:
                await self._session(sink)
            except asyncio.CancelledError:
                raise
            except StreamRefused as e:
                log.error("kis.stream.refused", app=self._settings.fingerprint, error=str(e))
                self._approval = None
            except (WebSocketException, OSError, TimeoutError, SourceError, frames.FrameError) as e:
                log.warning(
                    "kis.stream.disconnected",
                    app=self._settings.fingerprint,
                    error=f"{type(e).__name__}: {e}",
                )
            self.connected.clear()
            self.disconnected.set()
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise asyncio.CancelledError  # a stop request arrived while a socket closed
            if self._was_live:
                failures = 0  # it worked until now: start the backoff again from the base
            delay = min(rt.reconnect_cap_seconds, rt.reconnect_base_seconds * 2**failures)
            failures += 1
            self.metrics.reconnects.inc()
            await self._sleep(delay)

    _was_live = False

    async def _session(self, sink: OrderEventSink) -> None:
        self._was_live = False
        started = time.perf_counter()
        if self._approval is None:
            self._approval = await self._client.approval_key()
        await self._choose_symbols()
        async with self._connect(self._settings.ws_url) as ws:
            pending = set(self._wanted())
            for tr_id, tr_key in sorted(pending):
                await ws.send(self._message(tr_id, tr_key))
            while pending:
                text = await self._recv(ws)
                acked = await self._handle(ws, text, sink)
                if acked is not None:
                    pending.discard(acked)
            self.sessions += 1
            self._was_live = True
            self.metrics.resubscribe_seconds.append(time.perf_counter() - started)
            self.connected.set()
            self.disconnected.clear()
            log.info(
                "kis.stream.subscribed", app=self._settings.fingerprint, count=len(self._wanted())
            )
            filled = await sink.on_stream_resumed(self._account)
            self.metrics.gaps_filled.inc(filled)
            while True:
                await self._handle(ws, await self._recv(ws), sink)

    async def _recv(self, ws: Socket) -> str:
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation.
        async with asyncio.timeout(self._settings.realtime.silence_timeout_seconds):
            message = await ws.recv()
        return message if isinstance(message, str) else message.decode()

    def _message(self, tr_id: str, tr_key: str, tr_type: str = "1") -> str:
        header = {
            "approval_key": self._approval,
            "custtype": self._settings.custtype,
            "tr_type": tr_type,
            "content-type": "utf-8",
        }
        return json.dumps({"header": header, "body": {"input": {"tr_id": tr_id, "tr_key": tr_key}}})

    async def _handle(self, ws: Socket, text: str, sink: OrderEventSink) -> tuple[str, str] | None:
        """Process one message; returns the (tr_id, tr_key) a control reply acknowledges."""
        if text[:1] in ("0", "1"):
            await self.handle_frame(text, sink)
            return None
        reply = json.loads(text)
        header = reply.get("header", {})
        tr_id = header.get("tr_id", "")
        if tr_id == "PINGPONG":
            await ws.send(text)  # the echo KIS expects, or it drops the connection
            return None
        body = reply.get("body", {})
        code = body.get("msg_cd", "")
        if code in ("OPSP0000", "OPSP0002"):
            output = body.get("output") or {}
            if tr_id == self._notice_tr and output.get("key"):
                self._decryptor = frames.Decryptor(output["key"], output["iv"])
            return tr_id, header.get("tr_key", "")
        if code.startswith("OPSP") and body.get("rt_cd") != "0":
            key = header.get("tr_key", "")
            if tr_id == frames.TRADES and key in self._symbols:
                # One symbol refused (unknown code, no room): its price falls back to REST;
                # the session and the notices go on.
                log.warning("kis.stream.symbol_refused", symbol=key, code=code)
                self._symbols = tuple(s for s in self._symbols if s != key)
                return tr_id, key
            raise StreamRefused("kis", f"{code} {body.get('msg1', '')} for {tr_id}", code=code)
        return None

    async def handle_frame(self, text: str, sink: OrderEventSink) -> None:
        """Decode one data frame: prices into the cache, notices into the sink."""
        received = time.perf_counter()
        try:
            frame = frames.split(text)
            if frame.tr_id == frames.TRADES:
                now = self._clock.now()
                for trade in frames.trades(frame):
                    self.prices.update(trade.symbol, trade.price, now)
                self.metrics.frames.inc()
                return
            if frame.tr_id != self._notice_tr:
                return
            if self._decryptor is None:
                raise frames.NoticeDecryptError("encrypted notice before the subscribe reply's key")
            record = self._decryptor.decrypt(frame.payload) if frame.encrypted else frame.payload
            event = frames.notice(
                record,
                self._account.account_id,
                self._digits,
                to_kst(self._clock.now()).date(),
                self._settings.realtime.hts_id or "",
            )
        except frames.FrameError as e:
            self.metrics.undecodable.inc()
            log.error("kis.stream.undecodable_frame", app=self._settings.fingerprint, error=str(e))
            return
        self.metrics.frames.inc()
        if event is None:
            return
        if await sink.on_order_event(event) is None:
            return  # nothing changed now (not ours, or held until its order's reply is in)
        self.metrics.observe_latency(time.perf_counter() - received)
