"""Each name in the core is used once for one thing: no two classes of the same name anywhere
under orchestrator/ (a reader, or an import, cannot pick the wrong one)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

CORE = Path("orchestrator")


def test_core_class_names_are_unique() -> None:
    where: dict[str, list[str]] = defaultdict(list)
    for path in sorted(CORE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                where[node.name].append(str(path))
    assert len(where) > 100, "the walk found almost no classes: it would prove nothing"
    assert {name: paths for name, paths in where.items() if len(paths) > 1} == {}
