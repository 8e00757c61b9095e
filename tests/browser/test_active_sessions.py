"""The example shop's "your active sessions" page in headless Chromium: two browsers of one user,
each named from its user agent, and the button that logs the other one out, whose open page's
live feed (a WebSocket) the server closes at once."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import VIEWPORT, Screenshot, StartExample
from tests.browser.test_example_app import log_in

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

LAPTOP = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
PHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)

NewDevice = Callable[[str, str], "Page"]


@pytest.fixture
def new_device(browser: Browser) -> Iterator[NewDevice]:
    """A browser context with its own cookie jar and user agent: another device."""
    contexts: list[BrowserContext] = []

    def new(base_url: str, user_agent: str) -> Page:
        context = browser.new_context(
            base_url=base_url,
            viewport=VIEWPORT,  # type: ignore[arg-type]
            user_agent=user_agent,
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield new
    for context in contexts:
        context.close()


def rows(page: Page) -> list[str]:
    return [
        re.sub(r"\s+", " ", text).strip() for text in page.locator("#devices li").all_inner_texts()
    ]


def test_see_each_device_and_log_one_out(
    new_device: NewDevice, start_example: StartExample, screenshot: Screenshot
) -> None:
    server = start_example({"SESSION_SECRET": "browser-devices-secret-0123456789abcdefghij"})
    phone = new_device(server.url, PHONE)
    laptop = new_device(server.url, LAPTOP)
    log_in(phone, "alice", "wonderland")
    log_in(laptop, "alice", "wonderland")

    phone.wait_for_selector("body[data-live=on]")  # the phone's page holds its live feed
    laptop.locator("#manage-sessions").click()
    laptop.wait_for_load_state()

    assert laptop.locator("h1").inner_text() == "Your active sessions"
    listed = rows(laptop)
    assert len(listed) == 2
    assert any(
        row.startswith("Firefox on Linux (this browser) network 127.0.0.0/24") for row in listed
    )
    assert any(row.startswith("Safari on iOS network 127.0.0.0/24") for row in listed)
    assert all("last used now" in row for row in listed)
    screenshot(laptop, "shop-active-sessions")

    laptop.get_by_role("button", name="Log out Safari on iOS").click()
    laptop.wait_for_load_state()

    assert laptop.get_by_role("status").inner_text() == (
        "Logged out Safari on iOS (network 127.0.0.0/24)."
    )
    (remaining,) = rows(laptop)
    assert remaining.startswith("Firefox on Linux (this browser)")
    # The phone's open page learns it at once: its live feed is closed by the server.
    phone.get_by_role("alert").wait_for(state="visible", timeout=2000)
    assert phone.locator("body").get_attribute("data-live") == "off"
    phone.reload()
    assert phone.get_by_text("Signed in as").count() == 0
    laptop.goto("/")
    assert laptop.get_by_text("Signed in as alice").is_visible()
