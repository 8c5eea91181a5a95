"""Access/refresh tokens and authorization codes (spec §1.3-§1.7).

Access tokens are HS256 JWTs with the claims seen in decoded testbed tokens: ``aud`` (user_seq_no
for user tokens, client_use_code for 2-legged ones), ``scope`` (JSON array), ``iss``, ``exp``,
``jti``. The store, not the signature, is authoritative: revocation and the "expire now" fault
work by changing the stored record, which a self-contained JWT could not express.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from . import codes
from .envelope import RelayError

ISSUER: Final = "https://www.openbanking.or.kr"
# Canonical order for the space-separated ``scope`` string the token endpoint returns (§1.3).
SCOPE_ORDER: Final = (
    "login",
    "inquiry",
    "transfer",
    "cardinfo",
    "fintechinfo",
    "insuinfo",
    "oob",
    "sa",
)


def scope_string(scopes: frozenset[str]) -> str:
    return " ".join(s for s in SCOPE_ORDER if s in scopes)


@dataclass
class IssuedToken:
    jti: str
    access_token: str
    client_id: str
    client_use_code: str
    user_seq_no: str | None
    scopes: frozenset[str]
    expires_at: datetime
    refresh_token: str | None = None
    refresh_expires_at: datetime | None = None
    revoked: bool = False
    refresh_used: bool = False

    @property
    def is_user_token(self) -> bool:
        return self.user_seq_no is not None


@dataclass
class AuthorizationCode:
    code: str
    client_id: str
    redirect_uri: str
    user_seq_no: str
    scopes: frozenset[str]
    expires_at: datetime
    used: bool = False


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass
class TokenStore:
    signing_key: bytes
    access_ttl: timedelta
    refresh_ttl: timedelta
    by_jti: dict[str, IssuedToken] = field(default_factory=dict)
    by_refresh: dict[str, IssuedToken] = field(default_factory=dict)
    codes: dict[str, AuthorizationCode] = field(default_factory=dict)

    def issue(
        self,
        *,
        now: datetime,
        client_id: str,
        client_use_code: str,
        user_seq_no: str | None,
        scopes: frozenset[str],
        with_refresh: bool,
    ) -> IssuedToken:
        jti = str(uuid.uuid4())
        expires_at = now + self.access_ttl
        claims = {
            "aud": user_seq_no if user_seq_no is not None else client_use_code,
            "scope": sorted(scopes),
            "iss": ISSUER,
            "exp": int(expires_at.timestamp()),
            "jti": jti,
        }
        token = IssuedToken(
            jti=jti,
            access_token=self._sign(claims),
            client_id=client_id,
            client_use_code=client_use_code,
            user_seq_no=user_seq_no,
            scopes=scopes,
            expires_at=expires_at,
        )
        if with_refresh:
            token.refresh_token = secrets.token_urlsafe(48)
            token.refresh_expires_at = now + self.refresh_ttl
            self.by_refresh[token.refresh_token] = token
        self.by_jti[jti] = token
        return token

    def verify(self, access_token: str, now: datetime) -> IssuedToken:
        """The live token for a bearer string, or O0002 (unknown/revoked) / O0003 (expired)."""
        jti = self._jti_of(access_token)
        token = self.by_jti.get(jti) if jti is not None else None
        if token is None or token.revoked or token.access_token != access_token:
            raise RelayError(codes.O_TOKEN_REJECTED)
        if now >= token.expires_at:
            raise RelayError(codes.O_TOKEN_EXPIRED)
        return token

    def revoke(self, token: IssuedToken) -> None:
        token.revoked = True
        if token.refresh_token is not None:
            self.by_refresh.pop(token.refresh_token, None)

    def find(self, token_text: str) -> IssuedToken | None:
        """Look a token up by either its access or its refresh string (revocation accepts both)."""
        if token_text in self.by_refresh:
            return self.by_refresh[token_text]
        jti = self._jti_of(token_text)
        found = self.by_jti.get(jti) if jti is not None else None
        return found if found is not None and found.access_token == token_text else None

    def expire_now(
        self, now: datetime, *, user_seq_no: str | None = None, client_id: str | None = None
    ) -> int:
        """Make matching live access tokens expired as of ``now`` (refresh tokens stay usable)."""
        count = 0
        for token in self.by_jti.values():
            if token.revoked or token.expires_at <= now:
                continue
            if user_seq_no is not None and token.user_seq_no != user_seq_no:
                continue
            if client_id is not None and token.client_id != client_id:
                continue
            token.expires_at = now
            count += 1
        return count

    def new_code(
        self,
        *,
        now: datetime,
        ttl: timedelta,
        client_id: str,
        redirect_uri: str,
        user_seq_no: str,
        scopes: frozenset[str],
    ) -> AuthorizationCode:
        code = AuthorizationCode(
            code=secrets.token_urlsafe(24),
            client_id=client_id,
            redirect_uri=redirect_uri,
            user_seq_no=user_seq_no,
            scopes=scopes,
            expires_at=now + ttl,
        )
        self.codes[code.code] = code
        return code

    def _sign(self, claims: dict[str, object]) -> str:
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = f"{header}.{payload}".encode("ascii")
        signature = hmac.new(self.signing_key, signing_input, hashlib.sha256).digest()
        return f"{header}.{payload}.{_b64(signature)}"

    def _jti_of(self, access_token: str) -> str | None:
        parts = access_token.split(".")
        if len(parts) != 3:
            return None
        signing_input = f"{parts[0]}.{parts[1]}".encode("ascii", errors="replace")
        expected = _b64(hmac.new(self.signing_key, signing_input, hashlib.sha256).digest())
        if not hmac.compare_digest(expected, parts[2]):
            return None
        try:
            padded = parts[1] + "=" * (-len(parts[1]) % 4)
            claims = json.loads(base64.urlsafe_b64decode(padded))
        except (ValueError, UnicodeDecodeError):
            return None
        jti = claims.get("jti") if isinstance(claims, dict) else None
        return jti if isinstance(jti, str) else None
