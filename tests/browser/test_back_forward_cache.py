"""After log-out, Back shows no signed-in page, in a real browser (``SECURITY.md``, guarantee 24).

Chromium keeps pages in its back/forward cache and shows them again on Back without asking the
server. Playwright launches Chromium with that cache turned off; here it is turned back on, and a
control run (the middleware's cache headers switched off) proves the browser really restores the
signed-in page from it, so that the run with the headers on shows what they change.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.browser.conftest import CHROMIUM_ARGS
from tests.browser.example_server import ExampleServer
from tests.browser.test_example_app import log_in
from tests.servers import server_unavailable

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def bfcache_browser() -> Iterator[object]:
    executable = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        server_unavailable("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            args=[*CHROMIUM_ARGS, "--enable-features=BackForwardCache"],
            ignore_default_args=["--disable-back-forward-cache"],
        )
        yield browser
        browser.close()


def back_after_log_out(browser: object, headers: str, shown: str) -> str:
    """Log in, open the private page, log out, press Back, and wait until the page shown says
    how it was shown (``shown``: "restored" from the back/forward cache, or "loaded" from the
    server); return what it says."""
    from playwright.sync_api import Browser

    assert isinstance(browser, Browser)
    with ExampleServer(
        {"BFCACHE_APP_HEADERS": headers}, app="tests.browser.signed_in_app:app", probe="/"
    ) as server:
        context = browser.new_context(base_url=server.url)
        context.set_default_timeout(10_000)
        try:
            page = context.new_page()
            page.goto("/")
            page.click("#login")
            page.wait_for_url("**/private")
            assert page.inner_text("#who") == "Signed in as alice"
            page.click("#logout")
            page.wait_for_url("**/bye")
            # A page restored from the cache fires no "load" event, only "pageshow".
            page.go_back(wait_until="commit")
            page.wait_for_function(f"document.title === {shown!r}")
            return page.inner_text("#who")
        finally:
            context.close()


def test_the_browser_restores_a_cacheable_signed_in_page_on_back(bfcache_browser: object) -> None:
    # The control: without the headers, Back shows the signed-in page from the cache.
    assert back_after_log_out(bfcache_browser, "off", "restored") == "Signed in as alice"


def test_after_log_out_back_shows_no_signed_in_page(bfcache_browser: object) -> None:
    # Asked of the server again (its "pageshow" is not a restore), which knows it is over.
    assert back_after_log_out(bfcache_browser, "on", "loaded") == "Signed out"


def test_after_log_out_in_the_example_app_back_shows_no_private_page(
    bfcache_browser: object,
) -> None:
    from playwright.sync_api import Browser

    assert isinstance(bfcache_browser, Browser)
    with ExampleServer({"SESSION_SECRET": "bfcache-example-secret-0123456789abcdefghij"}) as server:
        context = bfcache_browser.new_context(base_url=server.url)
        context.set_default_timeout(10_000)
        try:
            page = context.new_page()
            log_in(page, "alice", "wonderland")
            page.goto("/")
            assert page.get_by_text("Signed in as").count() > 0
            page.get_by_role("button", name="Log out", exact=True).click()
            page.wait_for_url("**/login?logged_out=1")
            page.go_back(wait_until="commit")
            page.wait_for_url("**/")
            page.wait_for_load_state()
            assert page.get_by_text("Signed in as").count() == 0
        finally:
            context.close()
