"""Fault injection, as in the other sandboxes: latency, 5xx, throttling, lost order replies,
expired tokens. Each rule fires for its next `count` matching requests, then with probability
`rate` from a seeded RNG, so a chaos run replays exactly. A 5xx or a throttle is answered before
the request reaches a handler (nothing booked); a lost reply is decided after an order was
booked, and the connection is dropped mid-response.
"""

from __future__ import annotations

import random
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from adapters.sandbox.kiwoom.wire import JSON_CONTENT_TYPE

FaultKind = Literal["latency", "error_5xx", "rate_limit", "lost_reply"]
FAULT_KINDS: tuple[FaultKind, ...] = ("latency", "error_5xx", "rate_limit", "lost_reply")


class FaultRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int | None = Field(default=None, ge=0)
    rate: float | None = Field(default=None, ge=0.0, le=1.0)
    # Only requests with one of these api-ids (all when None).
    api_ids: list[str] | None = None
    seconds: float = Field(default=0.0, ge=0.0)  # latency only
    status: int = Field(default=500, ge=500, le=599)  # error_5xx only


class FaultPlan(BaseModel):
    """Body of `POST /_sandbox/faults`: a present key replaces that rule (`null` removes it)."""

    model_config = ConfigDict(extra="forbid")

    latency: FaultRule | None = None
    error_5xx: FaultRule | None = None
    rate_limit: FaultRule | None = None
    lost_reply: FaultRule | None = None
    expire_tokens: bool = False
    seed: int | None = None


class FaultState:
    def __init__(self, seed: int = 17) -> None:
        self.seed = seed
        self._rng = random.Random(f"{seed}|kiwoom-faults")
        self.rules: dict[FaultKind, FaultRule | None] = dict.fromkeys(FAULT_KINDS)
        self.injected: dict[str, int] = dict.fromkeys((*FAULT_KINDS, "expire_tokens"), 0)

    def apply(self, plan: FaultPlan) -> None:
        if plan.seed is not None:
            self.seed = plan.seed
            self._rng = random.Random(f"{plan.seed}|kiwoom-faults")
        for kind in FAULT_KINDS:
            if kind in plan.model_fields_set:
                rule: FaultRule | None = getattr(plan, kind)
                self.rules[kind] = None if rule is None else rule.model_copy()

    def clear(self) -> None:
        self.rules = dict.fromkeys(FAULT_KINDS)
        self.injected = dict.fromkeys(self.injected, 0)

    def fire(self, kind: FaultKind, api_id: str) -> FaultRule | None:
        rule = self.rules[kind]
        if rule is None or (rule.api_ids is not None and api_id not in rule.api_ids):
            return None
        if rule.count:
            rule.count -= 1
        elif rule.rate is not None:
            if self._rng.random() >= rule.rate:
                return None
        elif not (kind == "latency" and rule.count is None):
            return None  # a burst that has run out (latency alone may apply to every request)
        self.injected[kind] += 1
        return rule

    def snapshot(self) -> dict[str, object]:
        rules: dict[str, object] = {
            kind: None if rule is None else rule.model_dump(exclude_none=True)
            for kind, rule in self.rules.items()
        }
        return {**rules, "seed": self.seed, "injected": dict(self.injected)}


class DroppedConnection(Response):
    """Starts a 200 reply, then raises instead of sending the body (the order stays booked)."""

    def __init__(self) -> None:
        super().__init__(status_code=200)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", JSON_CONTENT_TYPE.encode()), (b"content-length", b"256")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        raise ConnectionResetError("kiwoom sandbox: connection dropped after booking")
