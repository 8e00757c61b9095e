"""The example shop in headless Chromium: what a visitor's browser really does with the cookie."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.conftest import NewContext, Screenshot, StartExample
from tests.browser.example_server import ExampleServer
from tests.servers import RedisServer

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

SEVEN_DAYS = 7 * 24 * 60 * 60


def session_cookie(context: BrowserContext) -> dict[str, Any] | None:
    cookies = [dict(cookie) for cookie in context.cookies() if cookie["name"] == "session"]
    assert len(cookies) <= 1
    return cookies[0] if cookies else None


def add_to_cart(page: Page, product_name: str) -> None:
    card = page.locator("article.product", has_text=product_name)
    card.get_by_role("button", name="Add").click()
    page.wait_for_load_state()


def log_in(page: Page, username: str, password: str) -> None:
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.locator("form.card").get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


def panel_text(page: Page, element_id: str) -> str:
    return re.sub(r"\s+", " ", page.locator(f"#{element_id}").inner_text()).strip()


def test_a_visitor_who_changes_nothing_gets_no_cookie(
    page: Page, context: BrowserContext, screenshot: Screenshot
) -> None:
    page.goto("/")
    assert page.get_by_text("Your cart is empty.").is_visible()
    assert "none yet" in panel_text(page, "panel-state")
    screenshot(page, "shop-new-visitor")
    page.goto("/login")
    page.goto("/api/products")
    page.goto("/")
    # No session cookie: only the signed CSRF cookie its forms need (nothing is stored).
    assert [cookie["name"] for cookie in context.cookies()] == ["session-csrf"]


def test_cart_flash_messages_and_reload(
    page: Page, context: BrowserContext, screenshot: Screenshot
) -> None:
    page.goto("/")
    add_to_cart(page, "Green tea")
    assert page.get_by_role("status").inner_text() == "Added Green tea to your cart."
    add_to_cart(page, "Wildflower honey")
    assert page.get_by_role("heading", name="Your cart (2)").is_visible()
    screenshot(page, "shop-cart")

    page.reload()
    assert page.get_by_role("status").count() == 0  # a flash message is shown once
    assert page.get_by_role("heading", name="Your cart (2)").is_visible()  # the cart stays

    page.get_by_role("button", name="Remove Green tea").click()
    assert page.get_by_role("status").inner_text() == "Removed Green tea."
    assert page.get_by_role("heading", name="Your cart (1)").is_visible()


def test_the_cookie_is_http_only_with_the_configured_attributes(
    page: Page, context: BrowserContext
) -> None:
    page.goto("/")
    add_to_cart(page, "Coffee beans")
    cookie = session_cookie(context)
    assert cookie is not None
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["secure"] is False  # the example serves plain HTTP on loopback
    assert cookie["path"] == "/"
    assert cookie["domain"] == "127.0.0.1"  # host-only: no Domain attribute
    assert abs(cookie["expires"] - (time.time() + SEVEN_DAYS)) < 60  # Max-Age: the absolute timeout
    assert "session=" not in page.evaluate("document.cookie")  # script cannot read it


def test_log_in_rotates_the_id_and_keeps_the_cart(
    page: Page,
    context: BrowserContext,
    new_context: NewContext,
    example_server: ExampleServer,
    screenshot: Screenshot,
) -> None:
    page.goto("/")
    add_to_cart(page, "Coffee beans")
    before = session_cookie(context)
    fingerprint_before = panel_text(page, "panel-fingerprint")
    assert before is not None

    log_in(page, "alice", "wonderland")

    assert page.get_by_role("status").inner_text() == "Welcome, alice!"
    assert page.get_by_text("Signed in as alice").is_visible()
    assert page.locator("aside.cart").get_by_text("Coffee beans").is_visible()
    after = session_cookie(context)
    assert after is not None
    assert after["value"] != before["value"]
    fingerprint_after = panel_text(page, "panel-fingerprint")
    assert panel_text(page, "panel-rotation") == (
        f"new id: was {fingerprint_before}, now {fingerprint_after}"
    )
    assert "(this browser)" in panel_text(page, "panel-sessions")
    assert after["value"].split(".")[0] not in page.content()  # the id is never shown
    screenshot(page, "shop-logged-in")

    replay = new_context(example_server.url)  # someone holding the pre-log-in cookie
    replay.add_cookies([{"name": "session", "value": before["value"], "url": example_server.url}])
    replayed = replay.new_page()
    replayed.goto("/")
    assert replayed.get_by_text("Signed in as").count() == 0
    assert replayed.get_by_text("Your cart is empty.").is_visible()


def test_two_contexts_are_two_sessions(
    new_context: NewContext, example_server: ExampleServer
) -> None:
    first = new_context(example_server.url).new_page()
    second = new_context(example_server.url).new_page()
    first.goto("/")
    add_to_cart(first, "Green tea")
    second.goto("/")
    assert second.get_by_text("Your cart is empty.").is_visible()
    log_in(second, "bob", "builder")
    first.reload()
    assert first.get_by_text("Signed in as").count() == 0
    assert first.get_by_role("heading", name="Your cart (1)").is_visible()
    first_cookie = session_cookie(first.context)
    second_cookie = session_cookie(second.context)
    assert first_cookie is not None
    assert second_cookie is not None
    assert first_cookie["value"] != second_cookie["value"]


def test_log_in_page_and_log_out(
    page: Page, context: BrowserContext, screenshot: Screenshot
) -> None:
    page.goto("/login")
    screenshot(page, "login")
    log_in(page, "bob", "builder")
    page.get_by_role("button", name="Log out", exact=True).click()
    page.wait_for_load_state()
    assert page.get_by_role("status").inner_text() == "You are logged out. See you soon!"
    assert session_cookie(context) is None
    page.goto("/")
    assert page.get_by_text("Signed in as").count() == 0


def test_active_sessions_and_log_out_the_others(
    new_context: NewContext, start_example: StartExample, screenshot: Screenshot
) -> None:
    server = start_example({"SESSION_SECRET": "browser-sessions-secret-0123456789abcdefghij"})
    laptop = new_context(server.url).new_page()
    phone = new_context(server.url).new_page()
    log_in(phone, "alice", "wonderland")
    log_in(laptop, "alice", "wonderland")
    assert laptop.locator("#panel-sessions li").count() == 2
    assert laptop.locator("#panel-sessions li", has_text="(this browser)").count() == 1
    screenshot(laptop, "shop-sessions")

    laptop.locator("#revoke-others").click()
    laptop.wait_for_load_state()

    assert laptop.get_by_role("status").inner_text() == "Logged out 1 other session."
    assert laptop.locator("#panel-sessions li").count() == 1
    phone.reload()
    assert phone.get_by_text("Signed in as").count() == 0


@pytest.mark.redis
def test_the_cart_survives_a_restart_with_redis_and_the_development_key(
    new_context: NewContext,
    start_example: StartExample,
    fresh_redis_server: RedisServer,
    tmp_path: Path,
) -> None:
    # No SESSION_SECRET: the development key, generated into its file by the first start.
    key_file = tmp_path / ".session-secret"
    env = {"REDIS_URL": fresh_redis_server.url, "SESSION_SECRET_FILE": str(key_file)}
    server = start_example(env)
    page = new_context(server.url).new_page()
    page.goto("/")
    assert panel_text(page, "panel-backend") == "Redis"
    add_to_cart(page, "Strawberry jam")
    fingerprint = panel_text(page, "panel-fingerprint")
    key = key_file.read_text()

    server.restart()

    page.reload()
    assert page.get_by_role("heading", name="Your cart (1)").is_visible()
    assert page.locator("aside.cart").get_by_text("Strawberry jam").is_visible()
    assert panel_text(page, "panel-fingerprint") == fingerprint
    assert key_file.read_text() == key


def test_the_cart_survives_a_restart_with_sqlite_the_default(
    new_context: NewContext, start_example: StartExample
) -> None:
    server = start_example({"SESSION_SECRET": "browser-restart-secret-0123456789abcdefghij"})
    page = new_context(server.url).new_page()
    page.goto("/")
    assert "SQLite file (kept across restarts)" in panel_text(page, "panel-backend")
    add_to_cart(page, "Sourdough loaf")
    fingerprint = panel_text(page, "panel-fingerprint")

    server.restart()

    page.reload()
    assert page.get_by_role("heading", name="Your cart (1)").is_visible()
    assert page.locator("aside.cart").get_by_text("Sourdough loaf").is_visible()
    assert panel_text(page, "panel-fingerprint") == fingerprint
