"""Who is at the console: API key login, session cookie, CSRF and roles, all checked here.

- Login exchanges an API key (from `api.keys`) for a session cookie: HttpOnly (no script reads
  it), SameSite=Strict (no other site's page can send it), Secure when served over https.
- Every form carries the session's CSRF token; a POST without it, or with another, is 403. The
  login form, which has no session yet, uses a double-submit cookie for the same purpose.
- Roles are enforced on the server: templates hide actions from a viewer, and a viewer's POST to
  an action is 403 whatever the page showed. The console shows every investor, so an `investor`
  key (bound to one of them) cannot log in at all.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence

from fastapi import Request

from orchestrator.api.auth import RANK, ApiKey, Principal, Role, principal_of
from orchestrator.web.sessions import COOKIE, ConsoleSession, SessionStore

LOGIN_CSRF_COOKIE = "orch_login_csrf"


class LoginRequired(Exception):
    """No live session: pages redirect to /login, fragments answer 401."""


class Forbidden(Exception):
    """403 with a reason the page shows (missing CSRF token, role too low, no session)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def principal_for(keys: Sequence[ApiKey], api_key: str) -> Principal | None:
    digest = hashlib.sha256(api_key.encode()).hexdigest()
    match = None
    for k in keys:  # compare against every key: the time taken does not say which one matched
        if hmac.compare_digest(k.sha256, digest):
            match = k
    return None if match is None else principal_of(match)


def new_login_token() -> str:
    return secrets.token_urlsafe(24)


def session_of(request: Request, sessions: SessionStore) -> ConsoleSession | None:
    return sessions.get(request.cookies.get(COOKIE))


def require_session(request: Request, sessions: SessionStore) -> ConsoleSession:
    session = session_of(request, sessions)
    if session is None:
        raise LoginRequired
    return session


async def require_action(
    request: Request, sessions: SessionStore, role: Role = "operator"
) -> tuple[ConsoleSession, dict[str, str]]:
    """For every state-changing POST: a live session, its CSRF token in the form, the role.

    Returns the session and the form's text fields."""
    session = session_of(request, sessions)
    if session is None:
        raise Forbidden("no live console session: log in again")
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    if not session.csrf_ok(fields.get("csrf_token")):
        raise Forbidden("missing or wrong CSRF token: reload the page and try again")
    if RANK[session.principal.role] < RANK[role]:
        raise Forbidden(f"this action needs role {role}; you are {session.principal.role}")
    return session, fields


def is_operator(session: ConsoleSession) -> bool:
    return RANK[session.principal.role] >= RANK["operator"]
