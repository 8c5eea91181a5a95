"""The README's whole "Try it" section (its subsection "Stop, start, reset" included), run from
the README text itself, step by step, against a real `serve`: the docs cannot drift.

Every `orchestrator …` line runs as a subprocess, every `curl …` as the same request (to the
test's port); `<RUN_ID>` is the run the preceding `workflows run` printed. What a step's comment
promises is checked (a break opened, the break resolves, nothing is sent, …). The prose around
the blocks decides the service's life: running for "Try it", stopped and started again before
"Stop, start, reset", stopped before `demo reset` ("with the service stopped").
"""

from __future__ import annotations

import re
import shlex
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.serve_process import Service, environment, free_port, orchestrator

pytestmark = pytest.mark.slow
README = Path(__file__).resolve().parents[2] / "README.md"
DOC_BASE = "http://127.0.0.1:8080"


@dataclass(frozen=True)
class Step:
    section: str
    argv: list[str]
    comment: str


def _section() -> str:
    text = README.read_text(encoding="utf-8")
    assert "\n## Try it\n" in text, "the README lost its Try it section"
    return text.split("\n## Try it\n", 1)[1].split("\n## ", 1)[0]


def steps() -> list[Step]:
    out: list[Step] = []
    parts = re.split(r"(?m)^### ", _section())
    named = [("Try it", parts[0])] + [(p.splitlines()[0].strip(), p) for p in parts[1:]]
    for heading, part in named:
        for block in re.findall(r"```sh\n(.*?)```", part, re.S):
            for line in block.replace("\\\n", " ").splitlines():
                argv = shlex.split(line, comments=True)
                if not argv or argv[0] in (".", "source"):
                    continue  # activating the venv: the test runs in it already
                _, _, comment = line.partition(" # ")
                out.append(Step(heading, argv, comment.strip()))
    return out


def _curl(argv: list[str], base: str) -> httpx.Response:
    method, headers, data, url = "GET", {}, None, None
    args = iter(argv[1:])
    for arg in args:
        if arg == "-s":
            continue
        if arg.startswith("-X"):
            method = arg[2:] or next(args)
        elif arg == "-H":
            name, _, value = next(args).partition(":")
            headers[name.strip()] = value.strip()
        elif arg == "-d":
            data = next(args)
        else:
            url = arg
    assert url is not None, argv
    assert url.startswith(DOC_BASE), argv
    return httpx.request(
        method, base + url[len(DOC_BASE) :], headers=headers, content=data, timeout=60
    )


def test_the_readme_steps_are_the_ones_this_test_knows() -> None:
    """The parse itself: every block of the section is seen, in order (a new step is run by the
    test below; this guards against the parser silently skipping a block)."""
    found = steps()
    commands = [" ".join(s.argv[:3]) for s in found if s.argv[0] == "orchestrator"]

    assert commands[:3] == [
        "orchestrator orders place",
        "orchestrator orders list",
        "orchestrator reconcile --once",
    ]
    assert "orchestrator workflows approve" in commands
    assert sum(1 for s in found if s.argv[0] == "curl") >= 2
    assert "orchestrator breaks ack" in commands
    assert [s.section for s in found][-1] == "Stop, start, reset"
    assert commands[-1] == "orchestrator demo reset"
    assert found[-1].argv[-1] == "--yes"  # a test cannot answer the confirmation
    assert {s.argv[0] for s in found} == {"orchestrator", "curl"}


def test_the_readme_try_it_section_works(tmp_path: Path) -> None:
    port = free_port()
    env = environment(tmp_path, port)
    assert orchestrator(env, "db", "upgrade").returncode == 0
    svc = Service(env, port, tmp_path / "serve.log")
    svc.start()
    run_id = None
    break_id = None
    section = "Try it"
    try:
        for step in steps():
            if step.section != section:
                section = step.section
                svc.stop()  # "Stop `make run` and start it again"
                svc.start()
            ids = {"<RUN_ID>": run_id, "<BREAK_ID>": break_id}
            argv = [ids.get(a, a) for a in step.argv]
            assert None not in argv, "a step needs an id no earlier step printed"
            if argv[0] == "curl":
                reply = _curl([str(a) for a in argv], svc.base)
                assert reply.status_code < 400, (step, reply.text)
                continue
            if argv[1:3] == ["demo", "reset"] and svc.proc is not None:
                svc.stop()  # "with the service stopped"
            result = orchestrator(env, *[str(a) for a in argv[1:]])
            out = result.stdout
            where = (step, out, result.stderr)
            expect_break = "opened" in step.comment
            assert result.returncode == (1 if expect_break else 0), where
            if argv[1:3] == ["workflows", "run"] and "--dry-run" not in argv:
                run_id = out.split()[1]
            if argv[1:3] == ["breaks", "list"]:
                break_id = out.split()[0].lstrip("#")
            _check_promise(step, out, where)
    finally:
        if svc.proc is not None:
            svc.stop()

    with sqlite3.connect(tmp_path / "svc.db") as conn:
        assert conn.execute("SELECT count(*) FROM order_intents").fetchone()[0] == 0


def _check_promise(step: Step, out: str, where: object) -> None:
    """What the step's comment says happens, happens."""
    comment = step.comment
    if step.argv[1:3] == ["orders", "place"]:
        assert re.search(r"-> (accepted|filled|partially_filled)", out), where
    if "nothing is sent" in comment:
        assert "(dry run: nothing is sent)" in out, where
        assert "[sent]" not in out, where
        assert "would place" in out, where
    if "awaiting approval" in comment:
        assert "awaiting_approval" in out, where
    if "reaches KIS once" in comment:
        assert "[sent] buy" in out, where
    if "stops" in comment and step.argv[1] == "killswitch":
        assert "kill switch ON: no orders or transfers" in out, where
    if "cash_mismatch opened" in comment:
        assert "NEW cash_mismatch" in out, where
    if step.argv[1:3] == ["breaks", "list"]:
        assert re.match(r"#\d+ open cash_mismatch demo/", out), where
        assert "(expected 15,234,870, observed 1)" in out, where
    if "acknowledged" in comment:
        assert " acknowledged by api:demo-operator: asked Samsung" in out, where
    if "resolves" in comment:
        assert "Resolved:\n  cash_mismatch" in out, where
    if "clean" in comment:
        assert "CLEAN" in out, where
