"""Errors this service raises on purpose, grouped by what the caller must do next.

    OrchestratorError
    ├── ConfigError                 fix config: refuse to start; a person fixes YAML/env
    ├── AlreadyRunning              another process holds the port, database or sandbox world:
    │                               change nothing, exit 2 (or talk to that process)
    ├── InvalidInput                the caller's input is wrong (carries `field`): nothing was
    │                               written; fix the input (CLI exit 2, HTTP 422)
    ├── SourceError                 an outside system failed (carries `source`)
    │   ├── SourceUnavailable       retry later: the request did not take effect (network, 5xx,
    │   │   │                       gateway rate limit); reads may be retried with backoff
    │   │   └── RateLimited         the gateway refused before accepting (e.g. KIS EGW00201);
    │   │                           safe to send again after backoff, even for an order
    │   ├── AuthError               renew credentials: refused credentials; alert the operator
    │   │   ├── TokenExpired        the adapter renews the token itself and retries once
    │   │   └── ConsentRequired     a person must (re)grant consent; no retry helps
    │   ├── AccountUnknown          the source has no such account; fix the link
    │   ├── RequestRefused          refused, never resend as-is: the upstream said no
    │   │   └── OrderRejected       the broker refused the order (carries `code`)
    │   └── OutcomeUnknown          resolve first: maybe done; ask the upstream, never resend
    │       └── OrderOutcomeUnknown an order may be live; settle from the broker's order list
    ├── GuardrailViolation          nothing was sent: a risk limit or the kill switch stopped it
    ├── ReconciliationError         books differ beyond tolerance
    ├── NotFound                    no such record (a break, an intent, a run): check the id
    ├── StateConflict               the record's current state does not allow this action
    ├── Conflict                    the record exists already (names it); nothing written (409)
    ├── InvalidRequest              the request itself is malformed (empty comment, ...)
    └── IntegrityError              our own records are inconsistent (e.g. broken audit chain)

Vendor and transport errors never cross an adapter boundary: each adapter maps its vendor's codes
into this tree in one place.
"""

from __future__ import annotations

from typing import ClassVar


class OrchestratorError(Exception):
    """Root of every deliberate error; anything else reaching the runner is a bug."""


class ConfigError(OrchestratorError):
    """Settings or YAML are invalid. The message names file, line and field."""


class AlreadyRunning(OrchestratorError):
    """Another process holds what this one needs to own alone; nothing was changed."""


class SourceError(OrchestratorError):
    """An outside system failed us. `source` is the adapter's name, for logs and the API."""

    retryable: ClassVar[bool] = False

    def __init__(self, source: str, message: str, *, code: str | None = None) -> None:
        super().__init__(f"[{source}] {message}")
        self.source = source
        self.code = code
        self.detail = message


class SourceUnavailable(SourceError):
    """Network trouble, 5xx or throttling: the request did not take effect; try again later."""

    retryable = True

    def __init__(
        self,
        source: str,
        message: str,
        *,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(source, message, code=code)
        self.retry_after = retry_after


class RateLimited(SourceUnavailable):
    """The gateway refused the call before accepting it; it may be sent again after backoff."""


class AuthError(SourceError):
    """A token is expired, invalid or lacks scope; credentials must be renewed."""


class TokenExpired(AuthError):
    """The access token was expired or unknown upstream; the adapter renews it and retries once.

    Routine (tokens expire, upstreams restart): a warning, not a page, unless renewal fails.
    """


class ConsentRequired(AuthError):
    """The user's consent is missing, expired or revoked; a person must grant it again."""


class CallbackRefused(ConsentRequired):
    """A consent callback we cannot use: unknown, expired or replayed state, or the relay's
    refusal. Nothing was stored; the person starts the consent again (HTTP 400)."""


class AccountUnknown(SourceError):
    """The source answered, and it has no such account."""


class RequestRefused(SourceError):
    """The upstream refused the request for a business reason; resending it as-is cannot help."""


class OrderRejected(RequestRefused):
    """The broker refused the order. `code` is the broker's own reason code."""


class OutcomeUnknown(SourceError):
    """The request may or may not have taken effect; only a follow-up query can tell."""


class OrderOutcomeUnknown(OutcomeUnknown):
    """The order may or may not be live at the broker; only its order list can tell."""


class GuardrailViolation(OrchestratorError):
    """A risk limit (or the kill switch) stopped an order or transfer; nothing was sent."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"{rule}: {message}")
        self.rule = rule


class ReconciliationError(OrchestratorError):
    """Expected and observed books differ by more than the configured tolerance."""


class NotFound(OrchestratorError):
    """The caller named a record (break, intent, run) that does not exist."""


class StateConflict(OrchestratorError):
    """The record exists but its current state does not allow the action (e.g. acknowledging a
    resolved break); re-read it before deciding again."""


class InvalidRequest(OrchestratorError, ValueError):
    """The request is malformed (an empty comment, an over-long reason); fix it and resend."""


class InvalidInput(InvalidRequest):
    """A value given by the caller is wrong; `field` names it. Nothing was written."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.detail = message


class IntegrityError(OrchestratorError):
    """Our own records are inconsistent (a broken audit chain, an impossible state change)."""


class Conflict(OrchestratorError):
    """The record already exists (or clashes with one); `existing` names it. Nothing was written."""

    def __init__(self, message: str, *, existing: str) -> None:
        super().__init__(message)
        self.existing = existing
