"""Strict requests: a query parameter the route does not declare is refused with 422.

A misspelt `ofset` would otherwise be ignored silently and the caller would read the wrong page.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from orchestrator.domain.errors import InvalidRequest

STRICT_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "The body is not valid JSON"},
    422: {
        "description": "A parameter or body field is missing, unknown, out of range or malformed"
    },
}


async def reject_unknown_query(request: Request) -> None:
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    unknown = sorted(set(request.query_params) - _query_names(route.dependant))
    if unknown:
        raise InvalidRequest(f"unknown query parameter(s): {', '.join(unknown)[:200]}")


def _query_names(dependant: Dependant) -> set[str]:
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names
