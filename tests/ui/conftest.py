"""Fixtures for the /ui playground's browser tests: Debian's chromium driven by Playwright.

Playwright cannot download its own browsers here, so the tests launch the system chromium by path and
skip (with the reason) where it or the Playwright package is missing; ``make system-packages`` installs
chromium, so CI runs them.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless chromium per test module (launching costs ~1-4 s; a session-wide one would keep
    Playwright's event loop running for every later test); each test gets a fresh
    context (own storage, own session storage) from the ``page`` fixture."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")
    path = chromium_path()
    if path is None:
        pytest.skip("chromium is not installed: apt-get install chromium (make system-packages does it)")
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS)
        yield instance
        instance.close()


@dataclass
class PageProblems:
    """Everything the browser complained about: console errors, uncaught exceptions, failed requests."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_responses: list[str] = field(default_factory=list)

    def all(self) -> list[str]:
        return self.console_errors + self.page_errors + self.failed_responses


@dataclass
class UiPage:
    page: Any
    problems: PageProblems


@pytest.fixture
def ui_page(browser: Any) -> Iterator[UiPage]:
    context = browser.new_context(viewport={"width": 1100, "height": 900}, accept_downloads=True)
    page = context.new_page()
    problems = PageProblems()
    page.on("console", lambda m: problems.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.page_errors.append(str(e)))
    page.on("response", lambda r: problems.failed_responses.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.set_default_timeout(15_000)
    yield UiPage(page, problems)
    context.close()
