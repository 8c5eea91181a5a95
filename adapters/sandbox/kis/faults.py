"""Fault injection: latency, 5xx bursts, EGW00201 bursts, expired tokens, lost order replies.

Set from the seed (`faults:`) or at runtime with `POST /_sandbox/faults`. Each rule fires for
its next `count` matching requests, then (or instead) with probability `rate` drawn from a
seeded RNG, so a chaos run replays exactly. A 5xx or EGW00201 is answered before the request
reaches the handler (nothing is booked); a lost reply is decided after the order is booked,
then the connection is dropped mid-response (the field's `RemoteDisconnected`, spec §9).
"""

from __future__ import annotations

import random
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from adapters.sandbox.kis.wire import JSON_CONTENT_TYPE

FaultKind = Literal["latency", "error_5xx", "rate_limit", "lost_reply"]
FAULT_KINDS: tuple[FaultKind, ...] = ("latency", "error_5xx", "rate_limit", "lost_reply")


class FaultRule(BaseModel):
    """Fires for the next `count` matching requests, then with probability `rate`."""

    model_config = ConfigDict(extra="forbid")
    unbounded_ok: ClassVar[bool] = False

    count: int | None = Field(default=None, ge=0)
    rate: float | None = Field(default=None, ge=0.0, le=1.0)
    path: str | None = Field(
        default=None,
        description="only requests whose path (relative to where the sandbox is mounted) starts so",
    )

    @model_validator(mode="after")
    def _bounded(self) -> FaultRule:
        if not self.unbounded_ok and self.count is None and self.rate is None:
            raise ValueError("give `count`, `rate` or both")
        return self


class LatencyRule(FaultRule):
    """Delays matching requests by `seconds`; with neither count nor rate, every request."""

    unbounded_ok: ClassVar[bool] = True
    seconds: float = Field(ge=0.0)


class ServerErrorRule(FaultRule):
    status: int = Field(default=500, ge=500, le=599)


class FaultPlan(BaseModel):
    """The body of `POST /_sandbox/faults` and the seed's `faults:` section.

    A key that is present replaces that rule (`null` removes it); absent keys stay as they are.
    """

    model_config = ConfigDict(extra="forbid")

    latency: LatencyRule | None = None
    error_5xx: ServerErrorRule | None = None
    rate_limit: FaultRule | None = None
    lost_reply: FaultRule | None = None
    expire_tokens: bool = False
    seed: int | None = None


# Where each kind applies when the rule names no path: EGW00201 is a business-gateway answer,
# and only order submissions (new, modify, cancel) can be booked and then lose their reply.
# Paths are the API's own (`/uapi/…`), matched against the request path relative to the mount
# point, so the same rules fire when the sandbox is served under `/sandbox/kis` (serve).
_SCOPES: dict[FaultKind, tuple[str, ...]] = {
    "latency": ("/",),
    "error_5xx": ("/",),
    "rate_limit": ("/uapi/",),
    "lost_reply": (
        "/uapi/domestic-stock/v1/trading/order-cash",
        "/uapi/domestic-stock/v1/trading/order-rvsecncl",
    ),
}


def route_path(scope: Scope) -> str:
    """The request path as the sandbox's own routes see it: without the mount prefix.

    Starlette keeps the full path in `scope["path"]` and the mount prefix in `root_path`.
    """
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return path


class FaultState:
    """The active rules, their seeded RNG, and how often each kind has fired."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._rng = random.Random(f"{seed}|faults")
        self.rules: dict[FaultKind, FaultRule | None] = dict.fromkeys(FAULT_KINDS)
        self.injected: dict[str, int] = dict.fromkeys((*FAULT_KINDS, "expire_tokens"), 0)

    def apply(self, plan: FaultPlan) -> None:
        """Install the rules `plan` names; `expire_tokens` is acted on by the caller."""
        if plan.seed is not None:
            self._seed = plan.seed
            self._rng = random.Random(f"{plan.seed}|faults")
        for kind in FAULT_KINDS:
            if kind in plan.model_fields_set:
                rule: FaultRule | None = getattr(plan, kind)
                # Counts run down in place, so keep a copy rather than the caller's plan.
                self.rules[kind] = None if rule is None else rule.model_copy()

    def clear(self) -> None:
        self.rules = dict.fromkeys(FAULT_KINDS)
        self.injected = dict.fromkeys(self.injected, 0)
        self._rng = random.Random(f"{self._seed}|faults")

    def fire(self, kind: FaultKind, path: str) -> FaultRule | None:
        """The rule if it fires for this request (consuming a count or an RNG draw), else None.

        `path` is relative to the mount point (`route_path`)."""
        rule = self.rules[kind]
        scopes = (rule.path,) if rule is not None and rule.path else _SCOPES[kind]
        if rule is None or not path.startswith(scopes):
            return None
        if rule.count:
            rule.count -= 1
        elif rule.rate is not None:
            if self._rng.random() >= rule.rate:
                return None
        elif rule.count is not None or not rule.unbounded_ok:
            return None  # a burst that has run out
        self.injected[kind] += 1
        return rule

    def snapshot(self) -> dict[str, object]:
        rules: dict[str, object] = {
            kind: None if rule is None else rule.model_dump(exclude_none=True)
            for kind, rule in self.rules.items()
        }
        return {**rules, "seed": self._seed, "injected": dict(self.injected)}


class DroppedConnection(Response):
    """Starts a 200 reply with a Content-Length, then raises instead of sending the body.

    Under uvicorn the socket closes (the client reads a truncated response); through
    httpx.ASGITransport the ConnectionResetError propagates to the caller.
    """

    def __init__(self) -> None:
        super().__init__(status_code=200)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", JSON_CONTENT_TYPE.encode()), (b"content-length", b"256")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        raise ConnectionResetError("sandbox: connection dropped after booking")
