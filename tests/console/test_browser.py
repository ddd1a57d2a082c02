"""The console in a real browser: Debian's Chromium driven by Playwright (``tests/browser.py``).

A reviewer signs in (HTTP Basic), opens the pending version, approves it through the
confirmation form, promotes it and sees production move and the audit entries with their
name; a read-only user sees no buttons and a forged POST from them is refused; a wrong
password is refused. The run saves screenshots of the versions list and a version page
(to ``SHOPREC_SCREENSHOTS`` when set, e.g. ``docs/``; else the test's temporary folder)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.browser import browser  # noqa: F401 - the session's Chromium
from tests.console.helpers import PASSWORDS

pytestmark = pytest.mark.slow
VIEWPORT = {"width": 1280, "height": 900}


def _screens(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("SHOPREC_SCREENSHOTS") or tmp_path / "screens")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _signed_in(browser, user: str, password: str | None = None):  # noqa: F811
    return browser.new_context(
        http_credentials={"username": user, "password": password or PASSWORDS[user]},
        viewport=VIEWPORT,
    )


def test_a_reviewer_approves_and_promotes_the_pending_version(browser, console, tmp_path):  # noqa: F811
    server, registry, _ = console
    screens = _screens(tmp_path)
    context = _signed_in(browser, "ana")
    page = context.new_page()
    try:
        assert page.goto(f"{server.url}/").status == 200  # redirected to /models
        assert page.url.endswith("/models")
        pending = page.locator('#versions tr[data-status="pending"]')
        assert pending.count() == 1
        page.screenshot(path=str(screens / "console-versions.png"), full_page=True)

        pending.locator("a").first.click()
        page.wait_for_url(re.compile(r"/models/itemknn/versions/3$"))
        assert page.inner_text("#status").strip() == "pending"
        assert page.inner_text("#production-version").strip() == "2"
        page.screenshot(path=str(screens / "console-version.png"), full_page=True)

        page.click('[data-action="approve"]')
        page.fill('textarea[name="reason"]', "better than production on every fold")
        page.click('[data-confirm="approve"]')
        page.wait_for_url(re.compile(r"/models/itemknn/versions/3$"))
        assert "approved by ana" in page.inner_text("#flash")
        assert page.inner_text("#status").strip() == "approved"

        page.click('[data-action="promote"]')
        page.fill('textarea[name="reason"]', "ship it")
        page.click('[data-confirm="promote"]')
        page.wait_for_url(re.compile(r"/models/itemknn/versions/3$"))
        assert page.inner_text("#production-version").strip() == "3"
        assert page.inner_text("#status").strip() == "production"
        promote_rows = page.locator('#audit tr[data-action="promote"]')
        assert any("ana" in promote_rows.nth(i).inner_text() for i in range(promote_rows.count()))
    finally:
        context.close()
    assert registry.alias("itemknn")["version"] == 3
    assert (screens / "console-versions.png").stat().st_size > 10_000


def test_read_only_gets_no_buttons_and_a_forged_post_is_403(browser, console):  # noqa: F811
    server, registry, _ = console
    context = _signed_in(browser, "rita")
    page = context.new_page()
    try:
        assert page.goto(f"{server.url}/models/itemknn/versions/3").status == 200
        assert page.inner_text("#status").strip() == "pending"
        assert page.locator("a[data-action], button[data-action]").count() == 0
        assert page.locator("form").count() == 0
        forged = context.request.post(
            f"{server.url}/models/itemknn/versions/3/approve",
            form={"reason": "forged", "csrf_token": "0" * 64},
            max_redirects=0,
        )
        assert forged.status == 403
    finally:
        context.close()
    assert registry.info("itemknn", 3).decision is None


def test_a_wrong_password_is_refused(browser, console):  # noqa: F811
    server, _, _ = console
    context = _signed_in(browser, "ana", "not-the-password")
    try:
        response = context.new_page().goto(f"{server.url}/models")
        assert response.status == 401
    finally:
        context.close()
