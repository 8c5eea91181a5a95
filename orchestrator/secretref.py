"""Secret references: config names where a secret lives, never the secret itself.

    env:NAME        an environment variable
    file:PATH       a file's contents (Docker/Kubernetes secrets), trailing newline stripped
    literal:VALUE   the value inline; only for sandbox demos and tests

More schemes (vault:…) register with `register_scheme`. Values resolve into SecretStr so they never
appear in repr() or logs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from pydantic import SecretStr

Resolver = Callable[[str, Mapping[str, str]], str]


class SecretRefError(ValueError):
    """A reference could not be resolved; the message says which and why (never the value)."""


def _from_env(name: str, environ: Mapping[str, str]) -> str:
    if name not in environ:
        raise SecretRefError(f"environment variable {name} is not set")
    return environ[name]


def _from_file(path: str, _environ: Mapping[str, str]) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").rstrip("\n")
    except OSError as e:
        raise SecretRefError(f"cannot read secret file {path}: {e.strerror}") from e


def _literal(value: str, _environ: Mapping[str, str]) -> str:
    return value


_SCHEMES: dict[str, Resolver] = {"env": _from_env, "file": _from_file, "literal": _literal}


def register_scheme(scheme: str, resolver: Resolver) -> None:
    """Add a reference scheme (e.g. `vault`) resolved by `resolver(rest, environ)`."""
    _SCHEMES[scheme] = resolver


def is_reference(value: str) -> bool:
    scheme, sep, _ = value.partition(":")
    return bool(sep) and scheme in _SCHEMES


def resolve(reference: str, environ: Mapping[str, str] | None = None) -> SecretStr:
    """Resolve `scheme:rest` into a SecretStr; raise SecretRefError naming the reference."""
    scheme, sep, rest = reference.partition(":")
    if not sep or scheme not in _SCHEMES:
        known = ", ".join(f"{s}:" for s in sorted(_SCHEMES))
        raise SecretRefError(f"not a secret reference (expected one of {known})")
    value = _SCHEMES[scheme](rest, os.environ if environ is None else environ)
    if not value:
        raise SecretRefError(f"{scheme}:{rest} resolved to an empty value")
    return SecretStr(value)


PLACEHOLDER_MARKERS = ("changeme", "change-me", "placeholder", "xxxx", "demo", "sandbox", "todo")


def looks_like_placeholder(value: str) -> bool:
    """True for values that are obviously not real credentials (refused in live mode)."""
    lowered = value.strip().lower()
    if not lowered or (lowered.startswith("<") and lowered.endswith(">")):
        return True
    return any(marker in lowered for marker in PLACEHOLDER_MARKERS)
