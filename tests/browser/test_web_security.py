"""The example shop's CSRF tokens, flash messages and "confirm your password" step, in headless
Chromium."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from tests.browser.conftest import NewContext, Screenshot, StartExample
from tests.browser.test_example_app import add_to_cart, log_in, session_cookie

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

SECRET = "browser-web-security-secret-0123456789abcdef"


def tokens(page: Page) -> list[str]:
    return [
        field.get_attribute("value") or ""
        for field in page.locator('input[name="csrf_token"]').all()
    ]


def test_a_visitor_gets_a_csrf_cookie_and_no_session(page: Page, context: BrowserContext) -> None:
    page.goto("/")
    page.goto("/login")
    assert [cookie["name"] for cookie in context.cookies()] == ["session-csrf"]
    assert session_cookie(context) is None


def test_every_form_carries_a_masked_token_and_a_forged_post_is_refused(
    page: Page, context: BrowserContext, new_context: NewContext
) -> None:
    page.goto("/")
    first = tokens(page)
    assert len(set(first)) == 1  # one token per page, in each of its forms
    page.reload()
    assert not set(first) & set(tokens(page))  # masked anew in each response

    add_to_cart(page, "Green tea")  # the real form, with its token: accepted
    assert page.get_by_text("Added Green tea to your cart.").is_visible()
    page.reload()
    assert page.get_by_text("Added Green tea to your cart.").count() == 0  # shown once

    # What another site's page could make this browser send: no token, or someone else's.
    forged = page.request.post("/cart/add", form={"product": "honey"}, max_redirects=0)
    assert forged.status == 403
    other = new_context(context.pages[0].url.rsplit("/", 1)[0]).new_page()
    other.goto("/")
    stolen = tokens(other)[0]
    replayed = page.request.post(
        "/cart/add", form={"product": "honey", "csrf_token": stolen}, max_redirects=0
    )
    assert replayed.status == 403
    page.goto("/")
    assert "Wildflower honey" not in page.locator(".cart").inner_text()

    # After the log-in, a token from before it fails; the pages' new tokens work.
    page.goto("/login")
    before = tokens(page)[0]
    log_in(page, "alice", "wonderland")
    assert page.get_by_text("Welcome, alice!").is_visible()
    assert (
        page.request.post(
            "/cart/add", form={"product": "jam", "csrf_token": before}, max_redirects=0
        ).status
        == 403
    )
    add_to_cart(page, "Strawberry jam")
    assert page.get_by_text("Added Strawberry jam to your cart.").is_visible()


def test_confirm_your_password_before_the_sessions_page(
    new_context: NewContext, start_example: StartExample, screenshot: Screenshot
) -> None:
    server = start_example({"SESSION_SECRET": SECRET, "CONFIRM_WITHIN": "3"})
    context = new_context(server.url)
    page = context.new_page()
    log_in(page, "alice", "wonderland")
    time.sleep(3.5)  # the log-in is now older than the page allows
    page.locator("#manage-sessions").click()
    page.wait_for_load_state()
    assert page.url.endswith("/confirm?next=/sessions")
    assert page.get_by_role("heading", name="Confirm your password").is_visible()
    screenshot(page, "shop-confirm-password")

    page.fill("#password", "wrong")
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_load_state()
    assert page.get_by_text("Wrong password.").is_visible()
    assert "/confirm" in page.url

    before = session_cookie(context)
    assert before is not None
    page.fill("#password", "wonderland")
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_load_state()
    assert page.url.endswith("/sessions")
    assert page.locator("h1", has_text="Your active sessions").is_visible()
    after = session_cookie(context)
    assert after is not None
    assert after["value"] != before["value"]  # a new id, as at a log-in
    page.reload()
    assert page.url.endswith("/sessions")  # confirmed: no second prompt within the window
