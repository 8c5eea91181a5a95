"""Playwright harness: Debian's Chromium (/usr/bin/chromium) in headless mode, one browser per
test module and a fresh context (cookies) per test. Every page a test opens is watched: a
request to anything but the server's origin, or a JavaScript console error, fails the test.
Screenshots go to the artifacts folder (CONSOLE_ARTIFACTS, default var/test-artifacts/console).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.databases import IN_CI

CHROMIUM = os.environ.get("CONSOLE_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(os.environ.get("CONSOLE_ARTIFACTS", "var/test-artifacts/console"))


def require_chromium() -> None:
    if Path(CHROMIUM).exists() or shutil.which(CHROMIUM):
        return
    reason = f"{CHROMIUM} not found (apt-get install chromium; .ci/run installs it)"
    if IN_CI:
        pytest.fail(f"Chromium is required in CI: {reason}")
    pytest.skip(f"{reason}; not CI, so skipping")


@dataclass
class Watch:
    """What one browser context did: requests made, console errors, page errors."""

    origin: str
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def foreign(self) -> list[str]:
        return [
            u
            for u in self.requests
            if not (u == self.origin or u.startswith((self.origin + "/", "data:")))
        ]


@dataclass
class Browser:
    chromium: Any
    origin: str

    def context(self, *, width: int = 1280, height: int = 900) -> tuple[Any, Watch]:
        ctx = self.chromium.new_context(
            viewport={"width": width, "height": height},
            base_url=self.origin,
            timezone_id="Asia/Seoul",
            locale="ko-KR",
        )
        ctx.set_default_timeout(15_000)
        watch = Watch(self.origin)
        ctx.on("request", lambda r: watch.requests.append(r.url))

        def on_page(page: Any) -> None:
            page.on(
                "console",
                lambda m: (
                    watch.errors.append(f"console {m.type}: {m.text}")
                    if m.type == "error"
                    else None
                ),
            )
            page.on("pageerror", lambda e: watch.errors.append(f"page error: {e}"))

        ctx.on("page", on_page)
        return ctx, watch


@pytest.fixture(scope="module")
def playwright_browser() -> Iterator[Any]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
