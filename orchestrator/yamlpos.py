"""YAML loading that remembers where every value came from, for errors that name file and line.

PyYAML's composed node tree carries marks; we walk it alongside the data so a pydantic error
location such as ("kis", "app_key") can be turned into "config/orchestrator.yaml:14:3".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from orchestrator.domain.errors import ConfigError


@dataclass(frozen=True, slots=True)
class SourcePosition:
    line: int
    column: int


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys instead of silently keeping the last one."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


class LocatedYaml:
    """Parsed YAML data plus a way to find the line of any nested key."""

    def __init__(self, path: Path, data: Any, root: yaml.Node | None) -> None:
        self.path = path
        self.data = data
        self._root = root

    def locate(self, loc: Sequence[int | str]) -> SourcePosition | None:
        """Where the deepest node along `loc` that exists is (the key's line when found)."""
        node = self._root
        best: SourcePosition | None = None
        for part in loc:
            if isinstance(node, yaml.MappingNode):
                match = None
                for key_node, value_node in node.value:
                    if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(part):
                        match = (key_node, value_node)
                        break
                if match is None:
                    return best
                best = _pos(match[0])
                node = match[1]
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                if part >= len(node.value):
                    return best
                node = node.value[part]
                best = _pos(node)
            else:
                return best
        return best

    def where(self, loc: Sequence[int | str]) -> str:
        """ "file:line:column" for `loc`, or just the file when the key is absent from it."""
        pos = self.locate(loc)
        if pos is None:
            return str(self.path)
        return f"{self.path}:{pos.line}:{pos.column}"


def _pos(node: yaml.Node) -> SourcePosition:
    return SourcePosition(line=node.start_mark.line + 1, column=node.start_mark.column + 1)


def load_yaml(path: Path) -> LocatedYaml:
    """Parse `path`; a syntax error or duplicate key becomes a ConfigError naming the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from e
    try:
        root = yaml.compose(text, Loader=_UniqueKeyLoader)
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError(f"{where}: invalid YAML: {e.problem or e}") from e
    return LocatedYaml(path, data if data is not None else {}, root)


def format_loc(loc: Sequence[int | str]) -> str:
    """pydantic location tuple as a dotted field path: ("users", 0, "id") -> "users[0].id"."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(root)"
