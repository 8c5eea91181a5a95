"""Bearer API keys with roles. Keys are stored as SHA-256 (they are random, high-entropy strings),
compared in constant time. `viewer` reads; `operator` also mutates."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

Role = Literal["viewer", "operator"]
_RANK: dict[str, int] = {"viewer": 0, "operator": 1}


class ErrorOut(BaseModel):
    detail: str


AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing or unknown API key"},
}
MUTATION_RESPONSES: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    403: {"model": ErrorOut, "description": "The key's role may not do this (needs operator)"},
}


@dataclass(frozen=True, slots=True)
class ApiKey:
    name: str
    role: Role
    sha256: str


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: Role


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
            if _RANK[match.role] < _RANK[role]:
                raise HTTPException(status.HTTP_403_FORBIDDEN, f"this action needs role {role}")
            return Principal(name=match.name, role=match.role)

        return dependency

    return require
