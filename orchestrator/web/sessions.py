"""Console sessions: a random token in an HttpOnly, SameSite=Strict cookie, looked up here.

The store keeps only the token's SHA-256 (a leaked memory dump or log line cannot be replayed),
the principal, a per-session CSRF token and the last time the session was used. A session unused
for `idle` is gone. Sessions live in the process: a restart logs operators out, which is the
safe direction for a console that can place orders.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from orchestrator.api.auth import Principal
from orchestrator.ports import Clock

COOKIE = "orch_console"


@dataclass
class ConsoleSession:
    principal: Principal
    csrf: str
    created_at: datetime
    last_seen: datetime
    flashes: list[tuple[str, str]] = field(default_factory=list)

    def csrf_ok(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(self.csrf, token)

    def flash(self, kind: str, text: str) -> None:
        self.flashes.append((kind, text))

    def take_flashes(self) -> list[tuple[str, str]]:
        taken, self.flashes = self.flashes, []
        return taken


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionStore:
    def __init__(self, clock: Clock, *, idle: timedelta, max_sessions: int = 10_000) -> None:
        self._clock = clock
        self._idle = idle
        self._max = max_sessions
        self._sessions: dict[str, ConsoleSession] = {}

    @property
    def idle(self) -> timedelta:
        return self._idle

    def create(self, principal: Principal) -> tuple[str, ConsoleSession]:
        """A new session; returns the cookie value (never stored) and the session."""
        self._sweep()
        token = secrets.token_urlsafe(32)
        now = self._clock.now()
        session = ConsoleSession(principal, secrets.token_urlsafe(32), now, now)
        self._sessions[_digest(token)] = session
        return token, session

    def get(self, token: str | None) -> ConsoleSession | None:
        """The live session for a cookie value (touching it), or None when unknown or idle."""
        if not token:
            return None
        key = _digest(token)
        session = self._sessions.get(key)
        if session is None:
            return None
        now = self._clock.now()
        if now - session.last_seen > self._idle:
            del self._sessions[key]
            return None
        session.last_seen = now
        return session

    def drop(self, token: str | None) -> None:
        if token:
            self._sessions.pop(_digest(token), None)

    def __len__(self) -> int:
        return len(self._sessions)

    def _sweep(self) -> None:
        now = self._clock.now()
        for key in [k for k, s in self._sessions.items() if now - s.last_seen > self._idle]:
            del self._sessions[key]
        while len(self._sessions) >= self._max:  # oldest first: dicts keep insertion order
            del self._sessions[next(iter(self._sessions))]
