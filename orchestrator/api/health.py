"""Liveness and readiness: public, cheap, never call a vendor."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from fastapi import APIRouter, Response
from pydantic import BaseModel

ReadinessCheck = Callable[[], Awaitable[bool]]


class HealthOut(BaseModel):
    status: str


class ReadyOut(BaseModel):
    status: str
    checks: dict[str, bool]


def health_router(checks: Mapping[str, ReadinessCheck]) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz", response_model=HealthOut)
    async def healthz() -> HealthOut:
        """The process is up and serving."""
        return HealthOut(status="ok")

    @router.get("/readyz", response_model=ReadyOut, responses={503: {"model": ReadyOut}})
    async def readyz(response: Response) -> ReadyOut:
        """Database reachable, migrations current, scheduler running (503 otherwise)."""
        results: dict[str, bool] = {}
        for name, check in checks.items():
            try:
                results[name] = await check()
            except Exception:  # a failing check means "not ready", never a 500
                results[name] = False
        ready = all(results.values())
        if not ready:
            response.status_code = 503
        return ReadyOut(status="ready" if ready else "not_ready", checks=results)

    return router
