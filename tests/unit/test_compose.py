"""docker-compose.yml cannot be run here (no Docker engine), so check what it names exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from typer.main import get_command

from orchestrator.cli import app
from orchestrator.settings import load_settings

COMPOSE = yaml.safe_load(Path("docker-compose.yml").read_text(encoding="utf-8"))


def _cli_paths() -> set[tuple[str, ...]]:
    root = get_command(app)
    paths: set[tuple[str, ...]] = set()

    def walk(cmd: object, prefix: tuple[str, ...]) -> None:
        commands = getattr(cmd, "commands", None)
        if not commands:
            paths.add(prefix)
            return
        for name, sub in commands.items():
            walk(sub, (*prefix, name))

    walk(root, ())
    return paths


def test_services_and_health_checks() -> None:
    """Orchestrator, PostgreSQL and Redis are defined, each with a health check."""
    services = COMPOSE["services"]
    for name in ("orchestrator", "postgres", "redis"):
        assert "healthcheck" in services[name], name


def test_commands_exist_in_the_cli() -> None:
    """Every `orchestrator …` command the compose file runs exists."""
    known = _cli_paths()
    for service in COMPOSE["services"].values():
        command = service.get("command")
        if not command or command[0] != "orchestrator":
            continue
        words = tuple(w for w in command[1:] if not w.startswith("-") and not w.startswith("/"))
        assert any(words[: len(p)] == p for p in known), command


def test_required_secrets_use_the_error_form() -> None:
    """Secrets must be given: compose refuses to start without them."""
    text = Path("docker-compose.yml").read_text(encoding="utf-8")
    for var in (
        "POSTGRES_PASSWORD",
        "ORCH_TOKEN_KEY",
        "KIS_APP_KEY",
        "KIS_APP_SECRET",
        "OPENBANKING_CLIENT_SECRET",
    ):
        assert re.search(r"\$\{" + var + r":\?", text), var


def test_ports_and_paths_match_the_service() -> None:
    """The published port is the API port, mounted paths exist, the Dockerfile is there."""
    settings = load_settings(Path("config/orchestrator.yaml")).settings
    orch = COMPOSE["services"]["orchestrator"]
    assert any(p.endswith(f":{settings.api.port}") for p in orch["ports"])
    for volume in orch["volumes"]:
        assert Path(volume.split(":")[0]).exists(), volume
    assert Path("Dockerfile").exists()
    assert "postgresql+asyncpg://" in orch["environment"]["ORCH_DATABASE__URL"]


def test_compose_environment_makes_a_valid_paper_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """The compose environment, applied to the shipped config, validates in paper mode."""
    from adapters.kis import KisSettings
    from adapters.openbanking.settings import OpenBankingSettings

    env = COMPOSE["services"]["orchestrator"]["environment"]
    values = {
        "POSTGRES_PASSWORD": "pw",
        "ORCH_API_KEYS": '[{"name": "ops", "role": "operator", "sha256": "' + "ab" * 32 + '"}]',
        "ORCH_TOKEN_KEY": "Zk9yX3Rlc3RzX29ubHlfMzJfYnl0ZXNfbG9uZ19rZXk=",
        "KIS_APP_KEY": "PSrealAppKey",
        "KIS_APP_SECRET": "secret",
        "KIS_ACCOUNT": "12345678-01",
        "OPENBANKING_CLIENT_ID": "cid",
        "OPENBANKING_CLIENT_SECRET": "csecret",
        "OPENBANKING_CLIENT_USE_CODE": "M202500001",
        "OPENBANKING_REDIRECT_URI": "https://example.invalid/callback",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    for name, value in env.items():
        expanded = re.sub(
            r"\$\{(\w+)(?::([?-])([^}]*))?\}",
            lambda m: values.get(m.group(1)) or (m.group(3) if m.group(2) == "-" else ""),
            str(value),
        )
        monkeypatch.setenv(name, expanded)

    loaded = load_settings(Path("config/orchestrator.yaml"))

    assert loaded.settings.mode == "paper"
    assert loaded.settings.database.url.startswith("postgresql+asyncpg://")
    kis = loaded.section("kis", KisSettings)
    assert kis.app_key.get_secret_value() == "PSrealAppKey"
    ob = loaded.section("openbanking", OpenBankingSettings)
    assert ob.client_use_code == "M202500001"
