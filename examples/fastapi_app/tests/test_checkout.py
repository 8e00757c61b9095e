"""Checking out: a logged-in user's cart becomes an order, and the cart empties."""

from __future__ import annotations

from starlette.testclient import TestClient

from examples.fastapi_app.models import ShopSession
from starlette_session.testing import SessionTester

ALICE = ShopSession(username="alice", cart={"tea": 2, "honey": 1})


def test_checking_out_places_the_order_and_empties_the_cart(
    client: TestClient, sessions: SessionTester
) -> None:
    sessions.seed(ALICE, user_id="alice")

    page = client.post("/checkout")

    assert page.url.path == "/order"
    assert "Thank you, alice!" in page.text
    assert "Green tea" in page.text
    assert "Wildflower honey" in page.text
    assert "Total (3 items)" in page.text
    assert "$17.25" in page.text  # 2 x 4.50 + 8.25
    shop = sessions.read_model(ShopSession)
    assert shop.cart == {}
    assert shop.last_order is not None
    assert shop.last_order.number in page.text
    assert shop.last_order.total_cents == 1725
    assert "Your cart is empty." in client.get("/").text


def test_the_confirmation_shows_again_on_reload(
    client: TestClient, sessions: SessionTester
) -> None:
    sessions.seed(ALICE, user_id="alice")
    placed = client.post("/checkout")
    again = client.get("/order")
    order = sessions.read_model(ShopSession).last_order
    assert order is not None
    assert order.number in placed.text
    assert order.number in again.text


def test_the_cart_offers_a_check_out_button_once_logged_in(
    client: TestClient, sessions: SessionTester
) -> None:
    sessions.seed(ShopSession(cart={"tea": 1}))
    anonymous = client.get("/").text
    assert 'action="/checkout"' not in anonymous
    assert "to check out; your cart stays." in anonymous

    page = client.post("/login", data={"username": "alice", "password": "wonderland"})

    assert 'action="/checkout"' in page.text
    assert "Check out &middot; $4.50" in page.text


def test_a_visitor_who_is_not_logged_in_is_sent_to_log_in(
    client: TestClient, sessions: SessionTester
) -> None:
    sessions.seed(ShopSession(cart={"jam": 1}))

    page = client.post("/checkout")

    assert page.url.path == "/login"
    assert "Log in to check out; your cart stays." in page.text
    assert sessions.read_model(ShopSession).cart == {"jam": 1}
    assert sessions.read_model(ShopSession).last_order is None


def test_another_sites_post_cannot_check_out(client: TestClient, sessions: SessionTester) -> None:
    # The cookie is SameSite=Lax, so a form another site posts here arrives without it: that is
    # an anonymous post, which places no order (the browser test checks the attribute).
    sessions.seed(ALICE, user_id="alice")
    cookie = client.cookies["session"]
    sessions.clear()
    assert client.post("/checkout", follow_redirects=False).headers["location"] == "/login"
    sessions.clear()
    client.cookies.set("session", cookie)
    assert sessions.read_model(ShopSession).cart == ALICE.cart


def test_an_empty_cart_cannot_be_checked_out(client: TestClient, sessions: SessionTester) -> None:
    sessions.seed(ShopSession(username="alice"), user_id="alice")
    page = client.post("/checkout")
    assert page.url.path == "/"
    assert "Your cart is empty: add something first." in page.text
    assert sessions.read_model(ShopSession).last_order is None


def test_checking_out_twice_places_one_order(client: TestClient, sessions: SessionTester) -> None:
    sessions.seed(ALICE, user_id="alice")
    client.post("/checkout")
    first = sessions.read_model(ShopSession).last_order
    second = client.post("/checkout")  # a double click, or Back and submit again
    assert "Your cart is empty: add something first." in second.text
    assert sessions.read_model(ShopSession).last_order == first


def test_without_an_order_the_confirmation_page_sends_home(client: TestClient) -> None:
    response = client.get("/order", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    assert "set-cookie" not in response.headers


def test_checking_out_through_the_api(client: TestClient, sessions: SessionTester) -> None:
    client.post("/api/cart", json={"product": "jam", "quantity": 2})
    refused = client.post("/api/checkout")
    assert refused.status_code == 401
    assert refused.json() == {"detail": "log in to check out"}

    client.post("/api/login", json={"username": "alice", "password": "wonderland"})
    order = client.post("/api/checkout").json()

    assert order["count"] == 2
    assert order["total_cents"] == 1150
    assert [line["product"]["id"] for line in order["lines"]] == ["jam"]
    assert client.get("/api/cart").json()["count"] == 0
    placed = sessions.read_model(ShopSession).last_order
    assert placed is not None
    assert placed.number == order["number"]
    again = client.post("/api/checkout")
    assert again.status_code == 409
    assert again.json() == {"detail": "the cart is empty"}
