"""Strict requests: a query parameter the route does not declare is refused with 422, and so is a
single-valued parameter given more than once.

A misspelt `ofset` would otherwise be ignored silently and the caller would read the wrong page;
`?status=open&status=closed` on a one-value filter would silently keep only the last.
"""

from __future__ import annotations

import types
from collections.abc import Sequence
from typing import Annotated, Any, Union, get_args, get_origin

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


# Installed on the whole app, the check applies to the operator API and the probes; the console's
# pages (links a browser follows, `?next=` after login) and the open-banking relay's redirect (its
# query is the relay's to choose) read their own query.
STRICT_PATHS = ("/api/", "/healthz", "/readyz")


async def reject_unknown_query(request: Request) -> None:
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not route.path.startswith(STRICT_PATHS):
        return
    declared = _query_params(route.dependant)
    unknown = sorted(set(request.query_params) - set(declared))
    if unknown:
        raise InvalidRequest(f"unknown query parameter(s): {', '.join(unknown)[:200]}")
    repeated = sorted(
        name
        for name, repeatable in declared.items()
        if not repeatable and len(request.query_params.getlist(name)) > 1
    )
    if repeated:
        raise InvalidRequest(f"{', '.join(repeated)[:200]}: give this query parameter once")


def _query_params(dependant: Dependant) -> dict[str, bool]:
    """Declared query parameter names, each with whether it takes several values."""
    names = {p.alias: _repeatable(p.field_info.annotation) for p in dependant.query_params}
    for sub in dependant.dependencies:
        names.update(_query_params(sub))
    return names


def _repeatable(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _repeatable(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return any(_repeatable(a) for a in get_args(annotation))
    return (
        isinstance(origin, type)
        and issubclass(origin, Sequence | set | frozenset)
        and (origin not in (str, bytes))
    )
