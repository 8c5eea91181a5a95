"""Every settings section is typed by its owner and validated whole: `config check` (bootstrap.load)
names file:line:field for any section, refuses unknown keys everywhere, and outside sandbox mode
refuses the sandboxes' demo vendor credentials; configured rate limits win over vendor defaults."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from adapters.brokers import PLUGINS
from adapters.http.settings import DEFAULT_RATE_LIMITS, RateSpec, ResilienceSettings
from adapters.openbanking.settings import OpenBankingSettings
from orchestrator import bootstrap
from orchestrator.cli import app
from orchestrator.domain.errors import ConfigError
from orchestrator.settings import Settings

SHIPPED = Path("config/orchestrator.yaml")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "orchestrator.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _line(text: str, needle: str) -> int:
    return next(i for i, ln in enumerate(text.splitlines(), 1) if needle in ln)


def _models(model: type[BaseModel]) -> set[type[BaseModel]]:
    """`model` and every model reachable through its fields' annotations."""
    seen: set[type[BaseModel]] = set()
    todo: list[object] = [model]
    while todo:
        t = todo.pop()
        if isinstance(t, type) and issubclass(t, BaseModel):
            if t in seen:
                continue
            seen.add(t)
            todo.extend(f.annotation for f in t.model_fields.values())
        else:
            todo.extend(typing.get_args(t))
    return seen


def test_every_section_has_an_owner_model_and_every_model_refuses_unknown_keys() -> None:
    """A new free-form section cannot skip validation: it must be registered in SECTIONS."""
    free_form = {
        name
        for name, field in Settings.model_fields.items()
        if typing.get_origin(field.annotation) is dict
        or field.annotation in ("dict[str, Any]", dict)
    }
    assert free_form, "the walk found no section fields: the test itself would be empty"
    # `brokers:` holds one entry per broker, each typed by its plugin's model (adapters/brokers.py).
    assert free_form == {*bootstrap.SECTIONS, "brokers"}, "register each section in SECTIONS"
    models = _models(Settings)
    for owner in bootstrap.SECTIONS.values():
        models |= _models(owner.model)
    for plugin in PLUGINS.values():
        models |= _models(plugin.settings_model)
    assert len(models) > 15
    lax = sorted(m.__name__ for m in models if m.model_config.get("extra") != "forbid")
    assert lax == []


def test_config_check_validates_every_section_with_file_line_and_field(tmp_path: Path) -> None:
    text = SHIPPED.read_text(encoding="utf-8")
    text = text.replace("cache_ttl_seconds: 45 ", "cache_ttl_seconds: 9999 ")
    text = text.replace("\nkis:\n  env: real ", "\nkis:\n  env: real\n  colour: blue ", 1)
    text = text.replace("  timezone: Asia/Seoul", "  timezone: Mars/Olympus")
    text = text.replace("  too_recent_seconds: 120", "  too_recent_seconds: -1")
    path = _write(tmp_path, text)

    with pytest.raises(ConfigError) as e:
        bootstrap.load(path, configure_logs=False)

    message = str(e.value)
    for needle, field in [
        ("cache_ttl_seconds: 9999", "resilience.cache_ttl_seconds"),
        ("colour: blue", "kis.colour: unknown key"),
        ("Mars/Olympus", "scheduler.timezone"),
        ("too_recent_seconds: -1", "reconciliation.too_recent_seconds"),
    ]:
        assert f"{path}:{_line(text, needle)}:" in message, needle
        assert field in message

    result = CliRunner().invoke(app, ["config", "check", str(path)])
    assert result.exit_code == 2
    assert "resilience.cache_ttl_seconds" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("mode", ["paper", "live"])
def test_paper_and_live_refuse_the_sandboxes_demo_credentials(tmp_path: Path, mode: str) -> None:
    text = SHIPPED.read_text(encoding="utf-8").replace("mode: sandbox ", f"mode: {mode} ")
    text = text.replace("encryption_keys: []", "encryption_keys: [literal:k7Qz9vL2pX8wR4tN6mB1]")
    text = text.replace("literal:sandbox-demo-client-id", "literal:<your client id>")
    path = _write(tmp_path, text)

    with pytest.raises(ConfigError) as e:
        bootstrap.load(path, configure_logs=False)

    message = str(e.value)
    assert f"kis.app_key: the sandbox's demo credential is refused in {mode} mode" in message
    assert f"openbanking.client_id: placeholder secret refused in {mode} mode" in message
    # 50012345-01 has no placeholder marker: only the sandbox's own list catches it.
    assert f"{path}:{_line(text, 'account: literal:50012345-01')}:" in message
    assert f"kis.account: the sandbox's demo credential is refused in {mode} mode" in message
    assert "openbanking.client_secret" in message
    assert "api.keys[0].sha256: the sandbox demo key is refused" in message
    assert "api.keys[1].sha256: the sandbox demo key is refused" in message


def test_sandbox_mode_accepts_the_demo_credentials() -> None:
    loaded = bootstrap.load(SHIPPED, configure_logs=False)
    assert set(loaded.sections()) == set(bootstrap.SECTIONS)


def test_configured_rate_limit_wins_over_the_adapters_default() -> None:
    """5/min configured for open banking users is what the limiter gets, not the adapter's 30."""
    ob = OpenBankingSettings.model_validate(
        {
            "client_id": "literal:id-123",
            "client_secret": "literal:secret-123",
            "client_use_code": "T990000001",
            "redirect_uri": "http://127.0.0.1/cb",
        }
    )
    vendor = ob.rate_limits()
    assert vendor["openbanking_user"] == (RateSpec(limit=30, per="minute"),)
    configured = ResilienceSettings.model_validate(
        {"rate_limits": {"openbanking_user": [{"limit": 5, "per": "minute"}]}}
    )
    kis_declared = {"kis_account:abc": (RateSpec(limit=18, per="second", spread=True),)}

    limits = configured.effective_rate_limits(kis_declared, vendor)

    assert limits["openbanking_user"] == (RateSpec(limit=5, per="minute"),)
    assert limits["kis_account:abc"] == kis_declared["kis_account:abc"]  # not configured: vendor's
    assert limits["kis_paper_account"] == DEFAULT_RATE_LIMITS["kis_paper_account"]


def test_a_configured_kind_replaces_the_vendors_exact_keys_of_that_kind() -> None:
    configured = ResilienceSettings.model_validate(
        {"rate_limits": {"kis_account": [{"limit": 2, "per": "second"}]}}
    )
    limits = configured.effective_rate_limits({"kis_account:abc": (RateSpec(limit=18),)})
    assert "kis_account:abc" not in limits
    assert limits["kis_account"] == (RateSpec(limit=2),)


def test_unconfigured_limits_are_the_vendor_defaults() -> None:
    limits = ResilienceSettings().effective_rate_limits(
        {"openbanking_user": (RateSpec(limit=30, per="minute"),)}
    )
    assert limits["openbanking_user"] == (RateSpec(limit=30, per="minute"),)


def test_backoff_cap_may_not_exceed_thirty_seconds() -> None:
    with pytest.raises(ValueError, match="backoff_max_seconds"):
        ResilienceSettings.model_validate({"backoff_max_seconds": 60})
