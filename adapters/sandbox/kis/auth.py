"""Access tokens, websocket approval keys and body hashes (spec §2.1–§2.4).

Tokens live 24 hours. Asking again within 6 hours of an issue returns the same token (and
the same `access_token_token_expired`), as KIS does; after that a fresh one is minted while
the old one stays valid until its own expiry. Any successful call to tokenP starts a
60-second window in which the next call for that app key gets 403 EGW00133. `expires_in`
is always 86400, even for a re-sent token: the field is known to be unreliable (spec §2.1),
and `access_token_token_expired` is the figure to trust.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from adapters.sandbox.kis import errors

TOKEN_LIFETIME = timedelta(hours=24)
REUSE_WINDOW = timedelta(hours=6)
ISSUE_THROTTLE = timedelta(seconds=60)
EXPIRES_IN = 86_400


@dataclass(slots=True)
class Token:
    value: str
    appkey: str
    issued_at: datetime
    expires_at: datetime
    revoked: bool = False


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _uuid_like(seed: str) -> str:
    h = hashlib.sha256(seed.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


class TokenStore:
    """Issued tokens of one environment, looked up by value on every call."""

    def __init__(self, seed: int, env: str) -> None:
        self._secret = f"kis-sandbox|{seed}|{env}".encode()
        self._env = env
        self._tokens: dict[str, Token] = {}
        self._latest: dict[str, Token] = {}
        self._last_call: dict[str, datetime] = {}
        self.approvals: dict[str, str] = {}  # approval key -> app key
        self._serial = 0

    def issue(self, appkey: str, now: datetime) -> Token:
        """The token to hand out now, or 403 EGW00133 inside the one-per-minute window."""
        last = self._last_call.get(appkey)
        if last is not None and timedelta(0) <= now - last < ISSUE_THROTTLE:
            raise errors.oauth(*errors.TOKEN_THROTTLED)
        self._last_call[appkey] = now
        current = self._latest.get(appkey)
        if (
            current is not None
            and not current.revoked
            and now < current.expires_at
            and now - current.issued_at < REUSE_WINDOW
        ):
            return current
        token = self._mint(appkey, now)
        self._tokens[token.value] = token
        self._latest[appkey] = token
        return token

    def _mint(self, appkey: str, now: datetime) -> Token:
        self._serial += 1
        expires = now + TOKEN_LIFETIME
        header = {"typ": "JWT", "alg": "HS512"}
        payload = {
            "sub": "token",
            "aud": _uuid_like(f"{self._env}|{appkey}|{self._serial}"),
            "iss": "unogw",
            "exp": int(expires.timestamp()),
            "iat": int(now.timestamp()),
            "jti": appkey,
        }
        signing_input = ".".join(
            _b64(json.dumps(part, separators=(",", ":")).encode()) for part in (header, payload)
        )
        signature = hmac.new(self._secret, signing_input.encode(), hashlib.sha512).digest()
        return Token(f"{signing_input}.{_b64(signature)}", appkey, now, expires)

    def revoke(self, value: str, appkey: str) -> bool:
        token = self._tokens.get(value)
        if token is None or token.appkey != appkey:
            return False
        token.revoked = True
        return True

    def check(self, authorization: str | None, appkey: str, now: datetime) -> Token:
        """The token behind an `authorization: Bearer …` header, or EGW00121/EGW00123."""
        scheme, _, value = (authorization or "").partition(" ")
        token = self._tokens.get(value.strip()) if scheme.lower() == "bearer" else None
        if token is None or token.revoked or token.appkey != appkey:
            raise errors.gateway(*errors.TOKEN_INVALID)
        if now >= token.expires_at:
            raise errors.gateway(*errors.TOKEN_EXPIRED)
        return token

    def expire_all(self, now: datetime) -> int:
        """Make every live token expired as of `now` (the `expire_tokens` fault)."""
        live = [t for t in self._tokens.values() if t.expires_at > now and not t.revoked]
        for token in live:
            token.expires_at = now
        return len(live)

    def approval_key(self, appkey: str, now: datetime) -> str:
        self._serial += 1
        key = _uuid_like(f"approval|{self._env}|{appkey}|{now.isoformat()}|{self._serial}")
        self.approvals[key] = appkey
        return key


def body_hash(body: object) -> str:
    """The HASH for a body: SHA-256 over canonical JSON, so key order and spacing don't matter."""
    canonical = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
