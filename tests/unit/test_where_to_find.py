"""ARCHITECTURE.md's "where to find" table names files and functions that exist (docs stay true)."""

from __future__ import annotations

import re
from pathlib import Path


def test_every_file_and_name_in_the_where_to_find_table_exists() -> None:
    text = Path("ARCHITECTURE.md").read_text(encoding="utf-8")
    table = text.split("## Where to find", 1)[1].split("\n## ", 1)[0]
    rows = [ln for ln in table.splitlines() if ln.startswith("| ") and "`" in ln]
    assert len(rows) >= 10
    checked = 0
    for row in rows:
        where = row.rsplit("|", 2)[-2]
        for path, names in re.findall(r"`([\w/.*-]+\.py)`(?: \(([^)]*)\))?", where):
            files = sorted(Path().glob(path))
            assert files, f"{path} does not exist"
            source = "".join(f.read_text(encoding="utf-8") for f in files)
            for name in re.findall(r"`(\w+)`", names):
                assert re.search(rf"\b{name}\b", source), f"{name} not in {path}"
                checked += 1
    assert checked >= 8
