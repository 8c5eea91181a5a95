"""Liveness and readiness: public, cheap, never call a vendor."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel

from orchestrator.api.strict import STRICT_RESPONSES, reject_unknown_query

# True: ready; False: not ready; a string: not ready, and why (shown in `reasons`).
ReadinessCheck = Callable[[], Awaitable[bool | str]]


class HealthOut(BaseModel):
    status: str


class ReadyOut(BaseModel):
    status: str
    checks: dict[str, bool]
    reasons: dict[str, str] = {}


def health_router(checks: Mapping[str, ReadinessCheck]) -> APIRouter:
    router = APIRouter(
        tags=["health"],
        responses=STRICT_RESPONSES,
        dependencies=[Depends(reject_unknown_query)],
    )

    @router.get("/healthz", response_model=HealthOut)
    async def healthz() -> HealthOut:
        """The process is up and serving."""
        return HealthOut(status="ok")

    @router.get("/readyz", response_model=ReadyOut, responses={503: {"model": ReadyOut}})
    async def readyz(response: Response) -> ReadyOut:
        """Database reachable, migrations current, scheduler running, order recovery done
        (503 otherwise, with the reason of each failing check in `reasons`)."""
        results: dict[str, bool] = {}
        reasons: dict[str, str] = {}
        for name, check in checks.items():
            try:
                outcome = await check()
            except Exception as e:  # a failing check means "not ready", never a 500
                outcome = type(e).__name__
            results[name] = outcome is True
            if isinstance(outcome, str):
                reasons[name] = outcome
        ready = all(results.values())
        if not ready:
            response.status_code = 503
        return ReadyOut(status="ready" if ready else "not_ready", checks=results, reasons=reasons)

    return router
