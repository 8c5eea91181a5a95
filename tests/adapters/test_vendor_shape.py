"""Every vendor folder has one shape (ARCHITECTURE.md "Vendor adapters"): the same files for the
same roles, the same names for the wiring, one error boundary, one token vault port, and log
events and metric endpoints named after the vendor. A new broker is a copy of this shape."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

VENDORS = {"kis": "Kis", "kiwoom": "Kiwoom", "openbanking": "OpenBanking"}
CORE_FILES = {
    "__init__.py",  # the package's public names
    "settings.py",  # its configuration section model
    "auth.py",  # tokens (issued, stored through TokenVault, renewed)
    "client.py",  # the one HTTP client over adapters/http
    "endpoints.py",  # paths, methods, rate-limit keys of each call
    "schemas.py",  # the vendor's wire models (its field names live only here and in mapping)
    "mapping.py",  # wire models <-> domain values
    "errors.py",  # the one vendor-code -> error-tree boundary
    "account.py",  # the AccountSource
}
_EVENT = re.compile(r"\blog\.(?:debug|info|warning|error|exception)\(\s*\"([^\"]+)\"")


@pytest.mark.parametrize("vendor", sorted(VENDORS))
def test_vendor_folder_has_the_shared_shape(vendor: str) -> None:
    folder = Path("adapters") / vendor
    files = {p.name for p in folder.glob("*.py")}
    assert files >= CORE_FILES, f"{vendor} lacks {sorted(CORE_FILES - files)}"

    package = importlib.import_module(f"adapters.{vendor}")
    for name in (VENDORS[vendor], f"build_{vendor}", f"{vendor}_http_client"):
        assert hasattr(package, name), f"adapters.{vendor} does not export {name}"
    errors = importlib.import_module(f"adapters.{vendor}.errors")
    for name in ("Kind", "error_for", "translator", "boundary"):
        assert hasattr(errors, name), f"adapters.{vendor}.errors lacks {name}"
    # One token vault port: the brokers' shared one (adapters/http/tokens.py), or the vendor's
    # own where its tokens are per user (open banking's stores).
    vault = getattr(importlib.import_module(f"adapters.{vendor}.auth"), "TokenVault", None)
    assert vault is not None, f"adapters.{vendor}.auth names no TokenVault"
    assert getattr(vault, "_is_protocol", False), f"adapters.{vendor}: TokenVault is no Protocol"
    sources = {p.name: p.read_text(encoding="utf-8") for p in folder.glob("*.py")}

    events = [e for s in sources.values() for e in _EVENT.findall(s)]
    assert events, f"no log events found in adapters/{vendor}: the check would be empty"
    foreign = sorted({e for e in events if not e.startswith(f"{vendor}.")})
    assert foreign == [], f"adapters/{vendor} logs events outside its {vendor}.* namespace"
