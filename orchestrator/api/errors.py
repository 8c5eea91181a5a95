"""The one mapping from the domain's error tree to HTTP, for every route.

Routes raise domain errors (NotFound, StateConflict, ...) and never catch-all on KeyError or
ValueError; this table decides the status, by what the caller should do next:

    CallbackRefused              400  start the consent again (bad, expired or replayed state)
    NotFound                     404  check the id
    StateConflict                409  re-read the record, decide again
    GuardrailViolation           409  a risk limit or the kill switch said no; nothing was sent
    InvalidRequest               422  fix the request
    RequestRefused (OrderRejected) 422  the upstream refused it; never resend as-is
    SourceUnavailable (RateLimited, OrdersNotReady)  503 + Retry-After  retry later
    AuthError, OutcomeUnknown, other SourceError     502  an upstream problem an operator handles
    ConfigError                  503  the service is misconfigured
    any other OrchestratorError  500  (IntegrityError: our records are inconsistent)

The reply is `{"detail": "<message>", "error": "<ErrorClass>"}`; messages are the errors' own
(they carry no secrets: adapters translate vendor errors at their boundary).
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from orchestrator.domain.errors import (
    CallbackRefused,
    ConfigError,
    Conflict,
    GuardrailViolation,
    InvalidRequest,
    NotFound,
    OrchestratorError,
    RequestRefused,
    SourceError,
    SourceUnavailable,
    StateConflict,
)

# Most specific first: the first class an error is an instance of decides.
STATUS_BY_ERROR: tuple[tuple[type[OrchestratorError], int], ...] = (
    (CallbackRefused, 400),
    (NotFound, 404),
    (StateConflict, 409),
    (Conflict, 409),
    (GuardrailViolation, 409),
    (InvalidRequest, 422),
    (RequestRefused, 422),
    (SourceUnavailable, 503),
    (SourceError, 502),
    (ConfigError, 503),
    (OrchestratorError, 500),
)


class ErrorOut(BaseModel):
    detail: str
    error: str


def status_of(error: OrchestratorError) -> int:
    return next(code for cls, code in STATUS_BY_ERROR if isinstance(error, cls))


def error_response(error: OrchestratorError) -> JSONResponse:
    headers: dict[str, str] = {}
    if isinstance(error, SourceUnavailable):
        retry = error.retry_after if error.retry_after is not None else 5.0
        headers["Retry-After"] = str(max(1, math.ceil(retry)))
    body = ErrorOut(detail=str(error), error=type(error).__name__)
    return JSONResponse(body.model_dump(), status_code=status_of(error), headers=headers)


def install_error_mapping(app: FastAPI) -> None:
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, OrchestratorError)
        return error_response(exc)

    app.add_exception_handler(OrchestratorError, handle)


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the statuses a route can return through the mapping."""
    text = {
        400: "The request cannot be used: start over",
        404: "No such item",
        409: "The item's state does not allow this",
        422: "Invalid or refused request",
        502: "An upstream problem",
        503: "Not available now; retry after Retry-After seconds",
    }
    return {code: {"model": ErrorOut, "description": text.get(code, "Error")} for code in codes}
