"""The operator API application (FastAPI). Reads the database; never calls a vendor."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from fastapi import APIRouter, Depends, FastAPI

from orchestrator.api.access_log import AccessLog
from orchestrator.api.auth import ApiKey
from orchestrator.api.docs import install_docs
from orchestrator.api.errors import install_error_mapping
from orchestrator.api.health import ReadinessCheck, health_router
from orchestrator.api.strict import reject_unknown_query


def create_api(
    *,
    readiness: Mapping[str, ReadinessCheck],
    routers: Sequence[APIRouter] = (),
    title: str = "Hybrid broker orchestrator",
    keys: Sequence[ApiKey] = (),
) -> FastAPI:
    # FastAPI's own /docs and /redoc load their scripts from a CDN: served locally instead.
    # Every route refuses a query parameter it does not declare (strict.py), whoever wrote it.
    app = FastAPI(
        title=title,
        version="0.1.0",
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(reject_unknown_query)],
    )
    app.include_router(health_router(readiness))
    for router in routers:
        app.include_router(router)
    install_docs(app)
    install_error_mapping(app)
    # Outermost: one line per request, also for replies the error handlers or mounts produce.
    app.add_middleware(AccessLog, keys=keys)
    return app
