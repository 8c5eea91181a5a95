from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from orchestrator.domain.errors import ConfigError
from orchestrator.settings import load_settings

SHIPPED = Path("config/orchestrator.yaml")


def _copy(tmp_path: Path, text: str | None = None) -> Path:
    target = tmp_path / "orchestrator.yaml"
    if text is None:
        shutil.copy(SHIPPED, target)
    else:
        target.write_text(text, encoding="utf-8")
    return target


def test_shipped_config_is_valid_sandbox() -> None:
    """The embedded default loads as sandbox mode on SQLite."""
    loaded = load_settings(SHIPPED)

    assert loaded.settings.mode == "sandbox"
    assert loaded.settings.database.url.startswith("sqlite+aiosqlite")


def test_misspelt_key_is_refused_naming_file_line_and_field(tmp_path: Path) -> None:
    """An unknown key is refused with file:line and the dotted field."""
    text = SHIPPED.read_text(encoding="utf-8").replace("  port: 8080", "  prot: 8080")
    path = _copy(tmp_path, text)
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "prot:" in ln)

    with pytest.raises(ConfigError) as e:
        load_settings(path)

    assert f"{path}:{line}:" in str(e.value)
    assert "api.prot" in str(e.value)
    assert "unknown key" in str(e.value)


def test_wrong_type_names_the_field(tmp_path: Path) -> None:
    """A wrong type is refused naming the line of the offending key."""
    path = _copy(tmp_path, "mode: sandbox\napi:\n  port: eighty\n")

    with pytest.raises(ConfigError, match=r":3:3: api.port"):
        load_settings(path)


def test_unknown_mode_is_refused(tmp_path: Path) -> None:
    """Only sandbox, paper and live are modes."""
    with pytest.raises(ConfigError, match=r":1:1: mode"):
        load_settings(_copy(tmp_path, "mode: production\n"))


def test_missing_secret_is_refused_naming_the_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A secret reference to an unset variable is a config error that names the variable."""
    monkeypatch.delenv("NO_SUCH_KEY", raising=False)
    path = _copy(tmp_path, "security:\n  encryption_keys:\n    - env:NO_SUCH_KEY\n")

    with pytest.raises(
        ConfigError, match=r":3:7: security.encryption_keys\[0\].*NO_SUCH_KEY is not set"
    ):
        load_settings(path)


def test_secret_from_file_reference(tmp_path: Path) -> None:
    """file: references read the secret from a file into a SecretStr that hides it."""
    (tmp_path / "k").write_text("s3cr3t-value\n", encoding="utf-8")
    path = _copy(tmp_path, f"security:\n  encryption_keys:\n    - file:{tmp_path / 'k'}\n")

    key = load_settings(path).settings.security.encryption_keys[0]

    assert key.get_secret_value() == "s3cr3t-value"
    assert "s3cr3t" not in repr(key)


def test_placeholder_secret_refused_in_live_mode(tmp_path: Path) -> None:
    """Live mode refuses obviously fake secrets, naming their line."""
    path = _copy(tmp_path, "mode: live\nsecurity:\n  encryption_keys:\n    - literal:changeme\n")

    with pytest.raises(ConfigError, match=r":4:7: security.encryption_keys\[0\]: placeholder"):
        load_settings(path)


def test_demo_api_key_refused_in_live_mode(tmp_path: Path) -> None:
    """The README's sandbox API key can never guard a live deployment."""
    text = SHIPPED.read_text(encoding="utf-8").replace("mode: sandbox", "mode: live")
    text = text.replace(
        "encryption_keys: []",
        "encryption_keys: [literal:Zk9yX3Rlc3RzX29ubHlfMzJfYnl0ZXNfbG9uZ19rZXk=]",
    )

    with pytest.raises(ConfigError, match="demo key is refused"):
        load_settings(_copy(tmp_path, text))


def test_environment_overrides_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ORCH_SECTION__KEY overrides the file."""
    monkeypatch.setenv("ORCH_API__PORT", "9999")

    assert load_settings(_copy(tmp_path)).settings.api.port == 9999


def test_bad_environment_override_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An invalid override is reported against the environment variable, not the file."""
    monkeypatch.setenv("ORCH_API__PORT", "not-a-port")

    with pytest.raises(ConfigError, match=r"environment ORCH_API__PORT: api\.port"):
        load_settings(_copy(tmp_path))


def test_invalid_yaml_and_duplicate_keys_name_the_line(tmp_path: Path) -> None:
    """YAML syntax errors and duplicate keys are refused with their line."""
    with pytest.raises(ConfigError, match=r":3:\d+: invalid YAML: duplicate key 'mode'"):
        load_settings(_copy(tmp_path, "mode: sandbox\ndata_dir: var\nmode: live\n"))
