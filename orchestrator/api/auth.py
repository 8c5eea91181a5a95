"""Bearer API keys with roles. Keys are stored as SHA-256 (they are random, high-entropy strings),
compared in constant time. `viewer` reads; `operator` also mutates; `investor` is bound to one
investor and reads only that investor's records.

Default deny for investor keys: `require("viewer")` refuses them (403), so a route sees an
investor key only when it asks for `require("investor")` and then scopes what it reads with
`Principal.own` / `Principal.only` (tests/api/test_investor_scope.py walks every route of the
app to keep it so)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from orchestrator.domain.errors import NotFound

Role = Literal["investor", "viewer", "operator"]
# An investor key ranks below a viewer: it passes only routes that scope their reads to it.
RANK: dict[str, int] = {"investor": -1, "viewer": 0, "operator": 1}


class DeniedOut(BaseModel):
    """The body of a 401/403 from the API key check."""

    detail: str


AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": DeniedOut, "description": "Missing or unknown API key"},
}
MUTATION_RESPONSES: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    403: {"model": DeniedOut, "description": "The key's role may not do this (needs operator)"},
}
SCOPED_RESPONSES: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    403: {"model": DeniedOut, "description": "The key's role may not do this"},
}


@dataclass(frozen=True, slots=True)
class ApiKey:
    name: str
    role: Role
    sha256: str
    investor: str | None = None  # set exactly when role is "investor"


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: Role
    investor: str | None = None

    def own(self, investor_id: str) -> str:
        """`investor_id` if this key may see it. Another investor's id is a 404 like an unknown
        one: an investor key must not learn which other investors exist."""
        if self.investor is not None and investor_id != self.investor:
            # Not echoing the id: the same words whether it exists or not.
            raise NotFound("not found: an investor key sees its own investor only")
        return investor_id

    def only(self, investor_id: str | None) -> str | None:
        """The investor filter of a listing: an investor key's own, whatever was asked (a
        different one asked for explicitly is a 404); staff keys see what they asked for."""
        if self.investor is None:
            return investor_id
        return self.own(investor_id) if investor_id is not None else self.investor


def principal_of(key: ApiKey) -> Principal:
    return Principal(name=key.name, role=key.role, investor=key.investor)


_bearer = HTTPBearer(auto_error=False, description="An API key from api.keys in the config")


def authenticator(keys: Sequence[ApiKey]) -> Callable[[Role], Callable[..., Awaitable[Principal]]]:
    """Build `require(role)` dependencies for the configured keys."""

    def require(role: Role) -> Callable[..., Awaitable[Principal]]:
        async def dependency(
            credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),  # noqa: B008
        ) -> Principal:
            if credentials is None or credentials.scheme.lower() != "bearer":
                raise HTTPException(
                    status.HTTP_401_UNAUTHORIZED,
                    "missing API key (Authorization: Bearer <key>)",
                    headers={"WWW-Authenticate": "Bearer"},
                )
            digest = hashlib.sha256(credentials.credentials.encode()).hexdigest()
            match = next((k for k in keys if hmac.compare_digest(k.sha256, digest)), None)
            if match is None:
                raise HTTPException(
                    status.HTTP_401_UNAUTHORIZED,
                    "unknown API key",
                    headers={"WWW-Authenticate": "Bearer"},
                )
            if RANK[match.role] < RANK[role]:
                raise HTTPException(status.HTTP_403_FORBIDDEN, f"this action needs role {role}")
            return principal_of(match)

        return dependency

    return require
