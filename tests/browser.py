"""A real browser for the console's tests: Debian's Chromium driven by Playwright.

Playwright's own browser download cannot work on these machines, so the tests launch the
system's ``chromium`` (``.ci/run`` installs it with apt) through ``executable_path``. A
machine without it fails the browser tests with that message rather than skipping them."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

CHROMIUM_NAMES = ("chromium", "chromium-browser")


def chromium_path() -> str:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise AssertionError(
        "the console's browser tests need Debian's chromium: apt-get install chromium "
        "(.ci/run does it)"
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """One headless Chromium for a test module (``playwright.sync_api.Browser``). Not for the
    session: while Playwright's sync API is open the main thread has a running event loop, and
    Prefect's sync calls in later tests (``State.result()``) would return coroutines."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=["--no-sandbox"]
        )
        try:
            yield launched
        finally:
            launched.close()
