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
(they carry no secrets: adapters translate vendor errors at their boundary). A request FastAPI
itself refuses (a body or parameter that fails its declared model) is answered in the same shape,
`{"detail": "quantity: Input should be greater than 0", "error": "InvalidRequest"}`, and the
OpenAPI documents that one shape for every 422, so a client parses one error body.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
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


_MAX_DETAIL = 500


def validation_detail(error: RequestValidationError) -> str:
    """`field: message` for each refused field (where: body, query, path or header dropped)."""
    parts = []
    for item in error.errors():
        loc = [str(p) for p in item.get("loc", ())]
        where = ".".join(loc[1:] if len(loc) > 1 else loc) or "request"
        parts.append(f"{where}: {item.get('msg', 'invalid')}")
    return "; ".join(parts)[:_MAX_DETAIL] or "invalid request"


def install_error_mapping(app: FastAPI) -> None:
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, OrchestratorError)
        return error_response(exc)

    async def handle_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        body = ErrorOut(detail=validation_detail(exc), error=InvalidRequest.__name__)
        return JSONResponse(body.model_dump(), status_code=422)

    app.add_exception_handler(OrchestratorError, handle)
    app.add_exception_handler(RequestValidationError, handle_validation)
    _document_one_422_shape(app)


def _document_one_422_shape(app: FastAPI) -> None:
    """Every documented 422 (FastAPI's own included) points at ErrorOut, the body it really is."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.setdefault(
            "ErrorOut", ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
        )
        content = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.get("responses") if isinstance(operation, dict) else None
                if responses is None:
                    continue
                # Any route can answer 422 (an unknown query parameter is refused everywhere).
                responses.setdefault("422", {"description": "Invalid or refused request"})
                responses["422"]["content"] = content
                if "requestBody" in operation:
                    # FastAPI answers a body it cannot decode with its own 400.
                    responses.setdefault("400", {"description": "The body is not valid JSON"})
        for unused in ("HTTPValidationError", "ValidationError"):
            components.pop(unused, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


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
