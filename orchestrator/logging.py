"""Structured logging: structlog, JSON when stdout is not a terminal, console otherwise.

Event names are dotted snake_case constants (`kis.order_accepted`); data goes in key-values. The
masking processor runs last before rendering and scrubs, at any depth of the event dict: tokens,
app keys, secrets, Authorization headers, account numbers (last 4 digits kept) and personal names.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog
from pydantic import SecretStr

REDACTED = "***"

# Keys whose values are secrets: replaced entirely.
_SECRET_KEY = re.compile(
    r"(token|secret|password|passwd|authorization|app_?key|appsecret|api_?key|credential"
    r"|hashkey|approval_key|client_secret|cookie|private_key|encryption_key)",
    re.IGNORECASE,
)
# Keys whose values are account numbers or similar identifiers: last 4 characters kept.
_ACCOUNT_KEY = re.compile(
    r"(account_?(no|num|number)?$|acnt|cano|fintech_use_num|account_num_masked|external_ref"
    r"|real_name_id|user_ci)",
    re.IGNORECASE,
)
# Keys whose values are a person's name (KFTC's account_holder_name, wd_/dps_ variants,
# req_/recv_client_name, user_name, real_name; our display_name). A bare `name` is not one of them:
# it names instruments, workflows, jobs and accounts, which an operator must be able to read.
_NAME_KEY = re.compile(
    r"(^|_)(holder|holder_name|client_name|user_name|real_name|display_name|investor_name"
    r"|owner_name|person_name|customer_name|full_name|print_content)$",
    re.IGNORECASE,
)
# Harmless keys that match the patterns above but hold no personal data.
_ALLOWED_KEYS = frozenset(
    {
        "event",
        "logger",
        "level",
        "timestamp",
        "source",
        "upstream",
        "endpoint",
        "token_type",
        "symbol_name",
        "job_name",
        "workflow_name",
        "step_name",
        "name_of_job",
        "token_expires_at",
    }
)
# Keys the logging pipeline itself fills in: never personal data.
_VERBATIM_KEYS = frozenset({"timestamp", "level", "logger"})
_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+")
# 10+ digits, optionally broken by dashes: account numbers (KIS "CANO-PRDT" is 10), phone
# numbers, fintech_use_num (24), resident ids. ISO dates (8 digits) stay readable.
_LONG_NUMBER = re.compile(r"(?<![\w-])\d(?:-?\d){9,}(?![\w-])")
# `key=value` / `"key": "value"` inside free text: any key naming a token (`token=`,
# `access_token=`, `approval_key`), an app key or secret, a password or a credential.
_KEYVALUE_SECRET = re.compile(
    r"(?i)((?<![a-z])(?:[a-z_]*token|appkey|appsecret|app_key|app_secret|client_secret|secretkey"
    r"|secret_key|approval_key|hashkey|api_key|apikey|password|passwd|secret|credential)"
    r"[\"']?\s*[:=]\s*[\"']?)[^\"'&,\s}]+"
)


def mask_number(value: str) -> str:
    """Keep the last 4 digits: "123-45-678901" -> "********8901"."""
    digits = re.sub(r"\D", "", value)
    if len(digits) <= 4:
        return "*" * len(digits)
    return "*" * (len(digits) - 4) + digits[-4:]


def mask_name(value: str) -> str:
    """Keep the first character of a name: "김데모" -> "김**"."""
    value = value.strip()
    if len(value) <= 1:
        return "*" * len(value)
    return value[0] + "*" * (len(value) - 1)


def scrub_text(text: str) -> str:
    """Mask secrets and long numbers inside free text (messages, URLs, exception strings)."""
    text = _BEARER.sub(r"\1 " + REDACTED, text)
    text = _KEYVALUE_SECRET.sub(r"\1" + REDACTED, text)
    return _LONG_NUMBER.sub(lambda m: mask_number(m.group(0)), text)


def scrub(value: Any, key: str | None = None) -> Any:
    """Return `value` with personal data and secrets masked, recursing into containers."""
    if key in _VERBATIM_KEYS:
        return value
    if key is not None and key not in _ALLOWED_KEYS:
        if _SECRET_KEY.search(key):
            return REDACTED if value not in (None, "") else value
        if (
            _ACCOUNT_KEY.search(key)
            and isinstance(value, str | int)
            and not isinstance(value, bool)
        ):
            return mask_number(str(value))
        if _NAME_KEY.search(key) and isinstance(value, str):
            return mask_name(value)
    if isinstance(value, SecretStr):
        return REDACTED
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, Mapping):
        return {k: scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [scrub(v) for v in value]
    if isinstance(value, BaseException):
        return scrub_text(f"{type(value).__name__}: {value}")
    return value


# A stored key that names the secret itself (`app_secret`, `access_token`), not one that only
# mentions it (`credentials_deleted: none`, `token_expires_at`): kept records stay readable.
_SECRET_VALUE_KEY = re.compile(
    r"(token|secret|password|passwd|authorization|app_?key|api_?key|hashkey|approval_key"
    r"|cookie|private_key|encryption_key|credential)$",
    re.IGNORECASE,
)


def mask_at_rest(value: Any, key: str | None = None) -> Any:
    """What may be stored of free text and audit detail: secrets, long numbers and person names
    masked, everything else (ids, codes, amounts, dates) kept readable.

    The one masking rule for the database: an order's last error, the kill switch's reason and
    audit detail quote vendor messages and operator text, which can carry an account number or a
    token. Unlike `scrub`, an `account` key keeps an internal id like "kis-main" readable: only
    its long digits are masked (by the text scrub).
    """
    if key is not None and key not in _ALLOWED_KEYS:
        if _SECRET_VALUE_KEY.search(key):
            return REDACTED if value not in (None, "") else value
        if _NAME_KEY.search(key) and isinstance(value, str):
            return mask_name(value)
    if isinstance(value, SecretStr):
        return REDACTED
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, Mapping):
        return {str(k): mask_at_rest(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_at_rest(v) for v in value]
    return value


def mask_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: scrub every key of the event dict (the event name stays readable)."""
    for k in list(event_dict):
        if k == "event":
            event_dict[k] = scrub_text(str(event_dict[k]))
        else:
            event_dict[k] = scrub(event_dict[k], k)
    return event_dict


def _format_exc_then_mask(
    logger: Any, method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    # Tracebacks can quote request URLs and headers: render them first so the mask sees them.
    event_dict = structlog.processors.format_exc_info(logger, method, event_dict)
    return mask_processor(logger, method, event_dict)


def shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _format_exc_then_mask,
    ]


def configure_logging(level: str = "INFO", fmt: str = "auto", stream: Any = None) -> None:
    """Configure structlog (and route stdlib logging through the same masking pipeline)."""
    stream = stream or sys.stdout
    use_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if use_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    numeric = logging.getLevelName(level)
    structlog.configure(
        processors=[*shared_processors(), renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=shared_processors(),
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    # httpx logs full URLs (query strings carry account ids) at INFO: keep it quiet.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # APScheduler ("Added job", "Running job") and Alembic ("Context impl", once per /readyz)
    # narrate routine work at INFO; our own events say what matters. Problems still show.
    for chatty in ("apscheduler", "alembic"):
        logging.getLogger(chatty).setLevel(
            logging.NOTSET if numeric <= logging.DEBUG else logging.WARNING
        )


# Free-text fields of API replies (vendor error messages, operator reasons): they may quote an
# account number or a token, so they get the same text scrub as log messages. Other values are
# left readable (broker order numbers, amounts) unless their key names a secret, account or name.
_FREE_TEXT_KEYS = frozenset(
    {"last_error", "error", "reason", "message", "comment", "note", "detail", "description"}
)


@functools.lru_cache(maxsize=4096)
def _masked_key(key: str) -> bool:
    """Whether a reply field's name calls for masking (cached: replies repeat a few keys, and
    the console renders thousands of fields a second)."""
    if key in _ALLOWED_KEYS:
        return False
    return any(p.search(key) for p in (_SECRET_KEY, _ACCOUNT_KEY, _NAME_KEY))


def mask_reply(value: Any, key: str | None = None) -> Any:
    """Mask an API reply as the logs mask events: no full account number or secret for any role."""
    if isinstance(value, Mapping):
        return {str(k): mask_reply(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_reply(v, key) for v in value]
    if key is not None and _masked_key(key):
        return scrub(value, key)
    if isinstance(value, SecretStr):
        return REDACTED
    if isinstance(value, str) and (key is None or key in _FREE_TEXT_KEYS):
        return scrub_text(value)
    return value
