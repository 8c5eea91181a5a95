"""docker-compose.yml cannot be run here (no Docker engine), so check what it names exists."""

from __future__ import annotations

import re
from pathlib import Path

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
