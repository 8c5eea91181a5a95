"""/docs without a network: Swagger UI's files come from the installed `swagger-ui-py` package
(served under /docs/assets) and our own start-up script, instead of FastAPI's default CDN links.
ReDoc (CDN-only in FastAPI) is switched off."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

_INIT = Path(__file__).parent / "static"


def swagger_ui_dir() -> Path:
    spec = importlib.util.find_spec("swagger_ui")  # located, not imported (no framework hooks)
    if spec is None or spec.origin is None:
        raise RuntimeError("swagger-ui-py is not installed (see pyproject.toml)")
    return Path(spec.origin).parent / "static"


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - API docs</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
<link rel="icon" href="/docs/assets/favicon-32x32.png">
</head><body>
<div id="swagger-ui" data-openapi="{openapi}"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/init/swagger-init.js"></script>
</body></html>"""


def install_docs(app: FastAPI) -> None:
    assets = swagger_ui_dir()
    app.mount("/docs/assets", StaticFiles(directory=assets), name="swagger-ui")
    app.mount("/docs/init", StaticFiles(directory=_INIT), name="swagger-init")
    page = _PAGE.format(title=app.title, openapi=app.openapi_url or "/openapi.json")

    @app.get("/docs", include_in_schema=False, response_class=HTMLResponse)
    async def docs() -> HTMLResponse:
        return HTMLResponse(page)
