"""The real-time websocket service: subscriptions, heartbeats, trade/quote frames and
encrypted execution notices (spec §2.4, §7.2; control codes §6).

Served by the same app as the REST API, at `/`, `/tryitout` and `/tryitout/<tr_id>` (real
KIS serves it on its own port, 21000 real / 31000 paper; a client points its websocket URL
here instead). One `Session` per connection:

- a receiver reads subscribe/unsubscribe messages and PINGPONG echoes;
- a pump wakes on every REST request (the matching engine may have moved), every
  `poll_seconds`, and on control levers; it syncs the broker, then sends trade and quote frames
  for each new 10-second price step of the subscribed symbols and one encrypted frame per new
  notice of the subscribed HTS IDs' accounts.

Heartbeats: every `heartbeat_seconds` (or on `POST /_sandbox/websocket {"heartbeat": true}`)
a session that has not echoed the previous PINGPONG is closed; otherwise a new one is sent.
The echo is the PINGPONG text sent back, or a websocket pong control frame carrying it (what
the newest official sample core sends). Pongs are invisible to ASGI apps; served with
`pongs.PongReportingProtocol` (the sandbox's uvicorn config and `serve` use it) they are
reported to the session. Served otherwise, only the text echo counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from adapters.sandbox.kis import realtime as rt
from adapters.sandbox.kis.broker import Broker
from adapters.sandbox.kis.hours import can_match, window_for
from adapters.sandbox.kis.pongs import pong_listener
from adapters.sandbox.kis.prices import step_of, step_start
from adapters.sandbox.kis.wire import json_response

_BACKLOG_STEPS = 10  # price steps replayed at most after a jump of the sandbox clock


@dataclass(eq=False, slots=True)
class Session:
    """One websocket connection and what it has subscribed."""

    serial: int
    socket: WebSocket
    secret: tuple[str, str]
    appkey: str | None = None
    hts_id: str = ""
    subscriptions: set[tuple[str, str]] = field(default_factory=set)
    notice_accounts: frozenset[str] = frozenset()
    notice_seq: int = 0
    last_step: dict[tuple[str, str], int] = field(default_factory=dict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    awaiting_echo: str | None = None
    next_beat: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    closed: bool = False

    async def send(self, text: str) -> None:
        async with self.lock:
            if not self.closed:
                await self.socket.send_text(text)

    async def close(self, code: int = 1011) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):
            await self.socket.close(code=code)


class Hub:
    """The live sessions of one app (runtime only, never persisted)."""

    def __init__(
        self,
        broker: Broker,
        sleep: Callable[[float], Awaitable[None]],
        *,
        heartbeat_seconds: float | None,
        poll_seconds: float,
    ) -> None:
        self.broker = broker
        self.sleep = sleep
        self.heartbeat_seconds = heartbeat_seconds
        self.poll_seconds = poll_seconds
        self.sessions: set[Session] = set()

    def poke(self) -> None:
        for session in self.sessions:
            session.wake.set()

    async def drop(self, session: Session) -> None:
        if not session.closed:
            self.broker.realtime.dropped += 1
        await session.close()

    async def drop_all(self) -> int:
        live = [s for s in self.sessions if not s.closed]
        for session in live:
            await self.drop(session)
        return len(live)

    async def beat(self, session: Session) -> None:
        """Close a session that left the last PINGPONG unanswered, else send a new one."""
        if session.awaiting_echo is not None:
            await self.drop(session)
            return
        session.awaiting_echo = rt.pingpong(self.broker.now())
        await session.send(session.awaiting_echo)

    async def heartbeat_round(self) -> None:
        for session in list(self.sessions):
            await self.beat(session)


class PokeAfterRequests:
    """ASGI middleware: after every HTTP request, wake the websocket pumps (a request may have
    booked, filled or cancelled orders, or moved the sandbox clock)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            hub: Hub | None = getattr(scope["app"].state, "realtime_hub", None)
            if scope["type"] == "http" and hub is not None:
                hub.poke()


def _subscription_error(
    hub: Hub, session: Session, message: Any
) -> tuple[str, str, tuple[str, str] | None]:
    """tr_id, tr_key and the error of a malformed message, or None when it is well formed."""
    if not isinstance(message, dict):
        return "", "", rt.BAD_JSON
    header, body = message.get("header"), message.get("body")
    if not isinstance(header, dict):
        return "", "", rt.NO_HEADER
    if not isinstance(body, dict):
        return "", "", rt.NO_BODY
    given = body.get("input")
    if not isinstance(given, dict):
        return "", "", rt.NO_INPUT
    tr_id, tr_key = str(given.get("tr_id", "")), given.get("tr_key")
    if not isinstance(tr_key, str) or not tr_key:
        return tr_id, "", rt.NO_TR_KEY
    appkey = hub.broker.tokens.approvals.get(str(header.get("approval_key", "")))
    if appkey is None:
        return tr_id, tr_key, rt.BAD_APPROVAL
    if session.appkey is None:
        if any(s.appkey == appkey and not s.closed for s in hub.sessions if s is not session):
            return tr_id, tr_key, rt.APPKEY_IN_USE
        session.appkey = appkey
        session.hts_id = hub.broker.apps[appkey].resolved_hts_id
    elif session.appkey != appkey:
        return tr_id, tr_key, rt.APPKEY_IN_USE
    if str(header.get("custtype", "P")) not in ("P", "B"):
        return tr_id, tr_key, rt.BAD_CUSTTYPE
    if str(header.get("tr_type", "")) not in ("1", "2", "0"):
        return tr_id, tr_key, rt.BAD_TR_TYPE
    notices = rt.NOTICES[hub.broker.env]
    if tr_id not in (rt.TRADES, rt.QUOTES, notices):
        return tr_id, tr_key, rt.BAD_TR_ID
    if tr_id == notices and tr_key != session.hts_id:
        return tr_id, tr_key, rt.BAD_TR_KEY
    if tr_id != notices and tr_key not in hub.broker.prices.symbols:
        return tr_id, tr_key, rt.BAD_TR_KEY
    return tr_id, tr_key, None


def _is_pingpong(message: Any) -> bool:
    header = message.get("header") if isinstance(message, dict) else None
    return isinstance(header, dict) and header.get("tr_id") == rt.PINGPONG


def _pong_received(session: Session, payload: bytes) -> None:
    """A pong control frame: the echo when it carries the PINGPONG text (uvicorn's own
    keepalive pongs carry other bytes and do not count)."""
    try:
        message = json.loads(payload)
    except ValueError:
        return
    if _is_pingpong(message):
        session.awaiting_echo = None


async def _handle(hub: Hub, session: Session, text: str) -> None:
    try:
        message = json.loads(text)
    except ValueError:
        await session.send(rt.control("", "", rt.BAD_JSON))
        return
    if _is_pingpong(message):
        session.awaiting_echo = None
        return
    tr_id, tr_key, error = _subscription_error(hub, session, message)
    if error is not None:
        await session.send(rt.control(tr_id, tr_key, error))
        return
    broker = hub.broker
    notices = tr_id == rt.NOTICES[broker.env]
    flag = "Y" if notices else "N"
    key = (tr_id, tr_key)
    if str(message["header"]["tr_type"]) != "1":
        if key not in session.subscriptions:
            await session.send(rt.control(tr_id, tr_key, rt.NOT_SUBSCRIBED, encrypt_flag=flag))
            return
        session.subscriptions.discard(key)
        if notices:
            session.notice_accounts = frozenset()
        await session.send(rt.control(tr_id, tr_key, rt.UNSUBSCRIBED, encrypt_flag=flag))
        return
    if key in session.subscriptions:
        await session.send(rt.control(tr_id, tr_key, rt.ALREADY_SUBSCRIBED, encrypt_flag=flag))
        return
    if len(session.subscriptions) >= rt.MAX_SUBSCRIPTIONS:
        await session.send(rt.control(tr_id, tr_key, rt.MAX_OVER, encrypt_flag=flag))
        return
    session.subscriptions.add(key)
    if notices:
        session.notice_accounts = broker.hts_accounts(tr_key)
        session.notice_seq = broker.notices.next_seq
    else:
        session.last_step[key] = step_of(broker.now()) - 1
    await session.send(
        rt.control(tr_id, tr_key, rt.SUBSCRIBED, encrypt_flag=flag, secret=session.secret)
    )
    session.wake.set()


def _price_frames(broker: Broker, session: Session) -> list[str]:
    now = broker.now()
    current = step_of(now)
    mode = broker.clock.session
    regular = window_for("regular", broker.env)
    frames: list[str] = []
    for key in sorted(session.subscriptions):
        tr_id, pdno = key
        if tr_id not in (rt.TRADES, rt.QUOTES):
            continue
        last = session.last_step.get(key, current - 1)
        session.last_step[key] = max(last, current)
        kind = broker.prices.symbols[pdno].kind
        for step in range(max(last + 1, current - _BACKLOG_STEPS + 1), current + 1):
            at = step_start(step)
            if not can_match(at, regular, mode, broker.calendar):
                continue
            stats = broker.prices.day_stats(pdno, at, mode)
            volume = broker.prices.liquidity(pdno, step)
            record = (
                rt.trade_record(pdno, at, stats, volume, kind)
                if tr_id == rt.TRADES
                else rt.quote_record(pdno, at, stats, volume, kind)
            )
            frames.append(rt.frame(tr_id, [record], secret=None))
    return frames


def _notice_frames(broker: Broker, session: Session) -> list[str]:
    if not session.notice_accounts:
        return []
    tr_id = rt.NOTICES[broker.env]
    frames = [
        rt.frame(tr_id, [(session.hts_id, *n.values[1:])], secret=session.secret)
        for n in broker.notices.since(session.notice_seq)
        if n.account in session.notice_accounts
    ]
    session.notice_seq = broker.notices.next_seq
    return frames


async def _pump(hub: Hub, session: Session) -> None:
    broker = hub.broker
    loop = asyncio.get_running_loop()
    if hub.heartbeat_seconds:
        session.next_beat = loop.time() + hub.heartbeat_seconds
    while not session.closed:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(hub.poll_seconds):
                await session.wake.wait()
        session.wake.clear()
        if hub.heartbeat_seconds and loop.time() >= session.next_beat:
            session.next_beat = loop.time() + hub.heartbeat_seconds
            await hub.beat(session)
        before = broker.notices.next_seq
        broker.sync()
        if broker.notices.next_seq != before:
            hub.poke()  # other sessions may cover these accounts too
        frames = _notice_frames(broker, session) + _price_frames(broker, session)
        if not frames:
            continue
        if broker.realtime.delay_seconds:
            await hub.sleep(broker.realtime.delay_seconds)
        for text in frames:
            state = broker.realtime
            if state.drop_after_frames is not None:
                if state.drop_after_frames == 0:
                    state.drop_after_frames = None
                    await hub.drop(session)
                    return
                state.drop_after_frames -= 1
            await session.send(text)
            state.frames_sent += 1


async def _receive(hub: Hub, session: Session) -> None:
    while not session.closed:
        try:
            text = await session.socket.receive_text()
        except (WebSocketDisconnect, RuntimeError, KeyError):
            return
        await _handle(hub, session, text)


async def realtime(socket: WebSocket) -> None:
    """The websocket endpoint (`ws://…/`, `/tryitout`, `/tryitout/<tr_id>`)."""
    hub: Hub = socket.app.state.realtime_hub
    broker = hub.broker
    await socket.accept()
    broker.realtime.sessions_opened += 1
    serial = broker.realtime.sessions_opened
    session = Session(serial, socket, rt.session_secret(broker.seed.seed, broker.env, serial))
    hub.sessions.add(session)
    pongs = pong_listener(socket.scope)
    if pongs is not None:
        pongs.subscribe(lambda payload: _pong_received(session, payload))
    tasks = [
        asyncio.create_task(_receive(hub, session)),
        asyncio.create_task(_pump(hub, session)),
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        hub.sessions.discard(session)
        await session.close(code=1000)


async def control(request: Request) -> Response:
    """GET or POST /_sandbox/websocket: sessions and levers (drop, delay, heartbeat now)."""
    hub: Hub = request.app.state.realtime_hub
    broker = hub.broker
    if request.method == "POST":
        try:
            plan = rt.WsFaultPlan.model_validate(json.loads(await request.body() or b"{}"))
        except ValueError as e:
            return json_response({"error": str(e)}, 400)
        broker.realtime.apply(plan)
        if plan.drop_now:
            await hub.drop_all()
        if plan.heartbeat:
            await hub.heartbeat_round()
    sessions = [
        {
            "serial": s.serial,
            "hts_id": s.hts_id,
            "subscriptions": [list(k) for k in sorted(s.subscriptions)],
            "awaiting_echo": s.awaiting_echo is not None,
        }
        for s in sorted(hub.sessions, key=lambda s: s.serial)
        if not s.closed
    ]
    return json_response({**broker.realtime.snapshot(), "sessions": sessions})
