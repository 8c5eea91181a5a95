"""Fault injection: latency, 5xx bursts, hangs, dropped connections, forced rsp_codes, ambiguous
transfer outcomes and "all tokens expire now".

Why these: spec §3.4 says a client must treat A0001/A0003/A0006/A0007/A0016/A0017, time-outs and
HTTP 5xx on a transfer as UNKNOWN and resolve it through transfer/result; §6 says maintenance
windows surface as A0020 or time-outs and quotas as O0008/O0009. Each rule can fire ``before`` the
relay processes the request or ``after`` (the work is done, the answer is lost) — the second is
what makes a dropped transfer response genuinely ambiguous.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.responses import HTMLResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import codes
from .envelope import RelayError, error_response

Sleep = Callable[[float], Awaitable[None]]
FaultKind = Literal[
    "latency", "http_error", "timeout", "drop", "rsp_code", "transfer_outcome", "expire_tokens"
]
# Kinds that replace the relay's answer; evaluated in the middleware, first match wins.
_TERMINAL_KINDS = frozenset({"http_error", "timeout", "drop", "rsp_code"})
TRANSFER_PATHS = frozenset({"/v2.0/transfer/deposit/fin_num", "/v2.0/transfer/withdraw/fin_num"})
SANDBOX_PREFIX = "/_sandbox"
DROPPED = "sandbox: connection dropped"


class FaultSpec(BaseModel):
    """One rule as accepted by the seed's ``faults:`` list and ``POST /_sandbox/faults``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: FaultKind
    # Exact relay path, or a prefix ending in "*"; None = every relay path (never /_sandbox).
    path: str | None = None
    method: Literal["GET", "POST"] | None = None
    # How many times the rule fires before it retires (a 5xx "burst" of n); None = until cleared.
    count: int | None = Field(default=None, ge=1)
    seconds: float | None = Field(default=None, ge=0)
    status: int = Field(default=503, ge=500, le=599)
    phase: Literal["before", "after"] = "before"
    rsp_code: str | None = None
    rsp_message: str | None = None
    # transfer_outcome: did the money actually move behind the ambiguous answer?
    executed: bool = True
    # expire_tokens filters.
    user_seq_no: str | None = None
    client_id: str | None = None

    @model_validator(mode="after")
    def _kind_rules(self) -> FaultSpec:
        if self.kind == "latency" and not self.seconds:
            raise ValueError("latency needs seconds > 0")
        if self.kind == "rsp_code" and (self.rsp_code is None or len(self.rsp_code) != 5):
            raise ValueError("rsp_code faults need a 5-character rsp_code, e.g. O0008 or A0020")
        if self.kind == "transfer_outcome" and self.rsp_code not in codes.UNKNOWN_OUTCOME_CODES:
            allowed = sorted(codes.UNKNOWN_OUTCOME_CODES)
            raise ValueError(f"transfer_outcome needs rsp_code in {allowed}")
        if self.phase == "after" and self.kind not in _TERMINAL_KINDS:
            raise ValueError("phase 'after' only applies to http_error, timeout, drop and rsp_code")
        return self

    def matches(self, path: str, method: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        if self.kind == "transfer_outcome" and path not in TRANSFER_PATHS:
            return False
        if self.path is None:
            return True
        if self.path.endswith("*"):
            return path.startswith(self.path[:-1])
        return path == self.path


@dataclass
class ActiveFault:
    id: int
    spec: FaultSpec
    remaining: int | None
    fired: int = 0

    def consume(self) -> None:
        self.fired += 1
        if self.remaining is not None:
            self.remaining -= 1

    @property
    def spent(self) -> bool:
        return self.remaining is not None and self.remaining <= 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "remaining": self.remaining,
            "fired": self.fired,
            **self.spec.model_dump(exclude_none=True),
        }


@dataclass
class FaultBook:
    active: list[ActiveFault] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def add(self, spec: FaultSpec) -> ActiveFault:
        if spec.kind == "expire_tokens":
            raise ValueError("expire_tokens is an action, not a standing rule")
        fault = ActiveFault(id=next(self._ids), spec=spec, remaining=spec.count)
        self.active.append(fault)
        return fault

    def clear(self) -> None:
        self.active.clear()

    def take_latency(self, path: str, method: str) -> float:
        total = 0.0
        for fault in self._matching({"latency"}, path, method):
            total += fault.spec.seconds or 0.0
            fault.consume()
        self._retire()
        return total

    def take(self, kinds: frozenset[str], path: str, method: str) -> FaultSpec | None:
        for fault in self._matching(kinds, path, method):
            fault.consume()
            self._retire()
            return fault.spec
        return None

    def _matching(
        self, kinds: frozenset[str] | set[str], path: str, method: str
    ) -> list[ActiveFault]:
        return [f for f in self.active if f.spec.kind in kinds and f.spec.matches(path, method)]

    def _retire(self) -> None:
        self.active = [f for f in self.active if not f.spent]


def route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return path


class FaultMiddleware:
    """Pure ASGI so a drop can happen mid-response (a BaseHTTPMiddleware would buffer it away)."""

    def __init__(self, app: ASGIApp, *, sleep: Sleep) -> None:
        self.app = app
        self.sleep = sleep

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = route_path(scope) if scope["type"] == "http" else ""
        if scope["type"] != "http" or path.startswith(SANDBOX_PREFIX):
            await self.app(scope, receive, send)
            return
        relay = scope["app"].state.relay
        book: FaultBook = relay.faults
        method: str = scope["method"]

        delay = book.take_latency(path, method)
        if delay:
            await self.sleep(delay)
        fault = book.take(_TERMINAL_KINDS, path, method)
        if fault is None:
            await self.app(scope, receive, send)
            return
        if fault.phase == "after":
            await self.app(scope, receive, _discard)

        if fault.kind == "http_error":
            page = f"<html><body><h1>{fault.status} Service Unavailable</h1></body></html>"
            await HTMLResponse(page, status_code=fault.status)(scope, receive, send)
        elif fault.kind == "rsp_code":
            error = RelayError(fault.rsp_code or codes.O_CANNOT_ROUTE, message=fault.rsp_message)
            await error_response(relay.now(), error)(scope, receive, send)
        else:
            if fault.kind == "timeout":
                await self.sleep(fault.seconds if fault.seconds is not None else 60.0)
            await _drop(send)


async def _discard(message: Message) -> None:
    return None


async def _drop(send: Send) -> None:
    # Headers promise a body that never comes: under uvicorn the socket is closed mid-response
    # (the client sees a protocol error); in-process the exception reaches the test client.
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json; charset=UTF-8"),
                (b"content-length", b"512"),
            ],
        }
    )
    raise ConnectionResetError(DROPPED)
