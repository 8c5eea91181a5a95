"""Mounting the console on the FastAPI application: templates, static files, security headers,
the login/logout routes and the error pages. The pages themselves are in pages.py and actions.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, select_autoescape

from orchestrator.web import format as fmt
from orchestrator.web.auth import (
    LOGIN_CSRF_COOKIE,
    Forbidden,
    LoginRequired,
    is_operator,
    new_login_token,
    principal_for,
    session_of,
)
from orchestrator.web.deps import ConsoleDeps
from orchestrator.web.sessions import COOKIE, ConsoleSession

STATIC = Path(__file__).parent / "static"
# Scripts, styles, images and fetches from this origin only; no framing; forms post here only.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'"
)


def templates() -> Jinja2Templates:
    env = Environment(
        loader=PackageLoader("orchestrator.web", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        krw=fmt.krw, number=fmt.number, kst=fmt.kst, duration=fmt.duration, age=fmt.age
    )
    return Jinja2Templates(env=env)


class Renderer:
    """Renders a page with what every page needs (who, CSRF token, flashes, navigation)."""

    def __init__(self, deps: ConsoleDeps) -> None:
        self.deps = deps
        self.templates = templates()

    def page(
        self,
        request: Request,
        name: str,
        session: ConsoleSession | None,
        status_code: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        base: dict[str, Any] = {
            "session": session,
            "user": None if session is None else session.principal,
            "can_act": session is not None and is_operator(session),
            "csrf": "" if session is None else session.csrf,
            "flashes": [] if session is None else session.take_flashes(),
            "mode": self.deps.api.mode,
            "now": self.deps.clock.now(),
            "refresh_ms": self.deps.refresh_ms,
            "path": request.url.path,
        }
        base.update(context)
        response = self.templates.TemplateResponse(request, name, base, status_code=status_code)
        assert isinstance(response, HTMLResponse)
        return response


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def install_console(app: FastAPI, deps: ConsoleDeps) -> None:
    """Add the console's routes, static files and headers to `app`."""
    from orchestrator.web.actions import actions_router
    from orchestrator.web.pages import pages_router

    render = Renderer(deps)
    app.mount("/static", StaticFiles(directory=STATIC), name="console-static")
    app.include_router(_login_router(deps, render))
    app.include_router(pages_router(deps, render))
    app.include_router(actions_router(deps, render))

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        if request.headers.get("x-fragment"):
            return Response(status_code=401)
        target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        return RedirectResponse(f"/login?next={target}", status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        session = session_of(request, deps.sessions)
        return render.page(
            request, "error.html", session, 403, title="Forbidden", reason=exc.reason
        )

    @app.middleware("http")
    async def headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Any:
        response = await call_next(request)
        path = request.url.path
        if not path.startswith(("/api/", "/sandbox/", "/docs", "/openapi.json", "/metrics")):
            response.headers.setdefault("Content-Security-Policy", CSP)
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
            response.headers.setdefault("Referrer-Policy", "same-origin")
            if not path.startswith("/static/"):
                response.headers.setdefault("Cache-Control", "no-store")
        return response


def _safe_next(value: str | None) -> str:
    # Only a path on this site: never an absolute or scheme-relative URL (open redirect).
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def _login_router(deps: ConsoleDeps, render: Renderer) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def login_page(request: Request, error: str | None, status_code: int = 200) -> Response:
        token = new_login_token()
        response = render.page(
            request,
            "login.html",
            None,
            status_code,
            title="Log in",
            login_csrf=token,
            error=error,
            next=_safe_next(request.query_params.get("next")),
        )
        response.set_cookie(
            LOGIN_CSRF_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=_secure(request),
            path="/login",
        )
        return response

    @router.get("/login", response_class=HTMLResponse)
    async def login_form(request: Request) -> Response:
        if session_of(request, deps.sessions) is not None:
            return RedirectResponse("/", status_code=303)
        return login_page(request, None)

    @router.post("/login", response_class=HTMLResponse)
    async def login(request: Request) -> Response:
        form = await request.form()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        cookie = request.cookies.get(LOGIN_CSRF_COOKIE)
        sent = fields.get("csrf_token")
        if not cookie or not sent or not _same(cookie, sent):
            raise Forbidden("missing or wrong CSRF token on the login form: reload it")
        principal = principal_for(deps.api.keys, fields.get("api_key", "").strip())
        if principal is None:
            # 200, not 401: the form is shown again (a browser logs every 4xx as an error).
            return login_page(request, "Unknown API key.")
        if principal.investor is not None:
            # The console's pages list every investor; an investor key reads the API only.
            return login_page(request, "An investor key cannot use the operator console.")
        old = request.cookies.get(COOKIE)
        deps.sessions.drop(old)  # a new session id at every login (no session fixation)
        token, session = deps.sessions.create(principal)
        session.flash("ok", f"Logged in as {principal.name} ({principal.role}).")
        response = RedirectResponse(_safe_next(fields.get("next")), status_code=303)
        response.set_cookie(
            COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=_secure(request),
            path="/",
        )
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login", httponly=True, samesite="strict")
        return response

    @router.post("/logout", response_class=HTMLResponse)
    async def logout(request: Request) -> Response:
        session = session_of(request, deps.sessions)
        form = await request.form()
        token = form.get("csrf_token")
        if session is not None and not session.csrf_ok(token if isinstance(token, str) else None):
            raise Forbidden("missing or wrong CSRF token: reload the page and try again")
        deps.sessions.drop(request.cookies.get(COOKIE))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response

    return router


def _same(a: str, b: str) -> bool:
    import hmac

    return hmac.compare_digest(a.encode(), b.encode())
