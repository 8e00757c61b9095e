"""The example shop on a phone's screen (390 x 844 CSS pixels) in headless Chromium: the cart comes
first, a mistyped password keeps the user name, and a logged-in visitor checks out."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from tests.browser.conftest import PHONE_VIEWPORT, NewContext, Screenshot
from tests.browser.example_server import ExampleServer
from tests.browser.test_example_app import add_to_cart, log_in, session_cookie

if TYPE_CHECKING:
    from playwright.sync_api import FloatRect, Locator, Page


def box(locator: Locator) -> FloatRect:
    rect = locator.bounding_box()
    assert rect is not None, f"{locator} is not displayed"
    return rect


def phone(new_context: NewContext, server: ExampleServer) -> Page:
    return new_context(server.url, viewport=PHONE_VIEWPORT).new_page()


def test_on_a_phone_the_cart_comes_before_the_products(
    new_context: NewContext, example_server: ExampleServer
) -> None:
    page = phone(new_context, example_server)
    page.goto("/")
    add_to_cart(page, "Green tea")
    add_to_cart(page, "Sourdough loaf")

    cart, products = box(page.locator("aside.cart")), box(page.locator("section.products"))
    assert cart["y"] + cart["height"] <= products["y"]  # above, not beside
    assert cart["y"] < PHONE_VIEWPORT["height"]  # on the first screen
    assert page.locator("aside.cart").get_by_text("Sourdough loaf").is_visible()
    # Nothing wider than the screen: no sideways scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_VIEWPORT["width"]


def test_on_a_wide_screen_the_cart_is_beside_the_products(
    new_context: NewContext, example_server: ExampleServer
) -> None:
    page = new_context(example_server.url).new_page()
    page.goto("/")
    cart, products = box(page.locator("aside.cart")), box(page.locator("section.products"))
    assert cart["x"] >= products["x"] + products["width"]
    assert cart["y"] < products["y"] + products["height"]


def test_a_wrong_password_keeps_the_user_name(
    new_context: NewContext, example_server: ExampleServer
) -> None:
    page = phone(new_context, example_server)

    log_in(page, "alice", "wonderlnd")

    assert page.get_by_role("status").inner_text() == "Wrong user name or password."
    assert page.locator("#username").input_value() == "alice"
    assert page.locator("#password").input_value() == ""
    assert page.evaluate("document.activeElement.id") == "password"  # type it again, at once
    assert session_cookie(page.context) is None  # a mistake stores nothing
    page.fill("#password", "wonderland")
    page.locator("form.card").get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
    assert page.get_by_role("status").inner_text() == "Welcome, alice!"


def test_log_in_to_check_out_then_check_out(
    new_context: NewContext, example_server: ExampleServer, screenshot: Screenshot
) -> None:
    page = phone(new_context, example_server)
    page.goto("/")
    add_to_cart(page, "Coffee beans")
    add_to_cart(page, "Coffee beans")
    add_to_cart(page, "Wildflower honey")
    assert page.locator("#checkout").count() == 0

    page.locator("aside.cart").get_by_role("link", name="Log in").click()  # "Log in to check out"
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "Log in"
    page.fill("#username", "bob")
    page.fill("#password", "builder")
    page.locator("form.card").get_by_role("button", name="Log in").click()
    page.wait_for_load_state()

    checkout = page.locator("#checkout")
    assert checkout.inner_text() == "Check out · $32.25"  # 2 x 12.00 + 8.25, the cart kept
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_VIEWPORT["width"]
    screenshot(page, "shop-phone", full_page=False)  # the first screen: the cart, then products
    checkout.click()
    page.wait_for_load_state()

    assert page.url.endswith("/order")
    assert page.locator("h1").inner_text() == "Thank you, bob!"
    assert re.fullmatch(r"[0-9A-F]{6}", page.locator("#order-number").inner_text())
    assert page.locator("#order-total").inner_text() == "$32.25"
    assert page.locator("#order").get_by_text("Coffee beans").is_visible()
    screenshot(page, "shop-order")

    page.get_by_role("link", name="Back to the shop").click()
    page.wait_for_load_state()
    assert page.get_by_text("Your cart is empty.").is_visible()
    assert page.get_by_text("Signed in as bob").is_visible()  # still logged in
    assert page.locator("#checkout").count() == 0
