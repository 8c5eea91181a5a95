"""Load workflow files (one file or a directory of *.yaml) into a validated catalog.

Every problem is reported at once, each naming file:line:column and the field, the way settings
errors do (orchestrator.yamlpos): unknown keys, misspelt step names, wrong types, duplicate
names across files, schedules naming a workflow that does not exist.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from pydantic import ValidationError

from orchestrator.domain.errors import ConfigError
from orchestrator.workflows.spec import (
    STEP_KINDS,
    InstrumentSpec,
    ScheduleSpec,
    WorkflowFile,
    WorkflowSpec,
)
from orchestrator.yamlpos import LocatedYaml, format_loc, load_yaml

T = TypeVar("T")
_DISCRIMINATORS = ("step", "type")


class WorkflowNotFound(ConfigError):
    """No workflow of that name is loaded."""


@dataclass(frozen=True)
class WorkflowCatalog:
    """Every workflow, schedule and instrument from the loaded files."""

    workflows: Mapping[str, WorkflowSpec] = field(default_factory=dict)
    schedules: Mapping[str, ScheduleSpec] = field(default_factory=dict)
    instruments: Mapping[str, InstrumentSpec] = field(default_factory=dict)
    origins: Mapping[str, str] = field(default_factory=dict)  # "workflows.NAME" -> file:line:col
    files: tuple[Path, ...] = ()

    def workflow(self, name: str) -> WorkflowSpec:
        try:
            return self.workflows[name]
        except KeyError:
            known = ", ".join(sorted(self.workflows)) or "none loaded"
            raise WorkflowNotFound(f"no workflow named {name!r} (known: {known})") from None

    def instrument(self, symbol: str) -> InstrumentSpec:
        return self.instruments.get(symbol, InstrumentSpec())

    def schedules_of(self, workflow: str) -> dict[str, ScheduleSpec]:
        return {k: s for k, s in self.schedules.items() if s.workflow == workflow}


def workflow_files(path: Path) -> list[Path]:
    """`path` itself, or the *.yaml / *.yml files directly in the directory, sorted."""
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    if path.exists():
        return [path]
    raise ConfigError(f"{path}: no such file or directory")


def load_catalog(paths: Path | Sequence[Path]) -> WorkflowCatalog:
    """Validate every file; raise ConfigError listing every problem, or return the catalog."""
    roots = [paths] if isinstance(paths, Path) else list(paths)
    files = [f for root in roots for f in workflow_files(root)]
    problems: list[str] = []
    workflows: dict[str, WorkflowSpec] = {}
    schedules: dict[str, ScheduleSpec] = {}
    instruments: dict[str, InstrumentSpec] = {}
    origins: dict[str, str] = {}
    parsed: list[tuple[LocatedYaml, WorkflowFile]] = []
    for path in files:
        try:
            source = load_yaml(path)
        except ConfigError as e:
            problems.append(str(e))
            continue
        if not isinstance(source.data, dict):
            problems.append(f"{path}:1:1: the top level must be a mapping (workflows, schedules)")
            continue
        try:
            parsed.append((source, WorkflowFile.model_validate(source.data)))
        except ValidationError as e:
            problems.extend(describe(e, source))
    for source, content in parsed:
        _merge("instruments", content.instruments, instruments, source, origins, problems)
        _merge("workflows", content.workflows, workflows, source, origins, problems)
        _merge("schedules", content.schedules, schedules, source, origins, problems)
    for source, content in parsed:
        for name, schedule in content.schedules.items():
            if schedule.workflow not in workflows:
                where = source.where(("schedules", name, "workflow"))
                problems.append(
                    f"{where}: schedules.{name}.workflow: no workflow named "
                    f"{schedule.workflow!r} (known: {', '.join(sorted(workflows)) or 'none'})"
                )
    if problems:
        raise ConfigError("\n".join(problems))
    return WorkflowCatalog(workflows, schedules, instruments, origins, tuple(files))


def _merge(
    section: str,
    items: Mapping[str, T],
    into: dict[str, T],
    source: LocatedYaml,
    origins: dict[str, str],
    problems: list[str],
) -> None:
    for name, item in items.items():
        where = source.where((section, name))
        key = f"{section}.{name}"
        if name in into and not (section == "instruments" and into[name] == item):
            problems.append(f"{where}: {key}: already defined at {origins[key]}")
            continue
        into[name] = item
        origins.setdefault(key, where)


def describe(error: ValidationError, source: LocatedYaml) -> list[str]:
    """One line per pydantic error: "file:line:col: field.path: message"."""
    lines = []
    errors = error.errors()
    for item in errors:
        if item["type"] == "too_short" and any(
            len(other["loc"]) > len(item["loc"])
            and tuple(other["loc"][: len(item["loc"])]) == tuple(item["loc"])
            for other in errors
        ):
            continue  # an invalid item also makes its list "too short": report the item only
        loc, node = _yaml_loc(source.data, item["loc"])
        message = item["msg"]
        kind = item["type"]
        if kind == "extra_forbidden":
            message = "unknown key (misspelt?)"
        elif kind in ("union_tag_invalid", "union_tag_not_found") and isinstance(node, dict):
            tag = next((k for k in _DISCRIMINATORS if k in node), None)
            if tag is not None:
                loc = (*loc, tag)
            if tag == "step":
                message = f"unknown step {node[tag]!r} (known: {', '.join(STEP_KINDS)})"
            elif tag == "type":
                message = f"unknown price type {node[tag]!r} (known: limit, market)"
            elif tag is None and len(loc) >= 2 and loc[-2] == "steps":
                message = f"missing `step:` (one of: {', '.join(STEP_KINDS)})"
        elif message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        lines.append(f"{source.where(loc)}: {format_loc(loc)}: {message}")
    return lines


def _yaml_loc(data: object, loc: Sequence[int | str]) -> tuple[tuple[int | str, ...], object]:
    """pydantic's location as a path through the YAML (without tags and "[key]" markers)."""
    out: list[int | str] = []
    node: object = data
    for part in loc:
        if part == "[key]":
            continue
        if isinstance(node, dict):
            if part in node:
                out.append(part)
                node = node[part]
                continue
            if isinstance(part, str) and any(node.get(k) == part for k in _DISCRIMINATORS):
                continue  # the tag pydantic adds for a discriminated union member
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            out.append(part)
            node = node[part]
            continue
        out.append(part)
        node = None
    return tuple(out), node
