"""The HTML pages: browsing, the cart, flash messages, log-in and log-out."""

from __future__ import annotations

from starlette.testclient import TestClient

from examples.fastapi_app.models import FlashMessage, ShopSession
from starlette_session.testing import SessionTester


def test_a_new_visitor_sees_the_shop_and_gets_no_cookie(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert "Green tea" in page.text
    assert "Your cart is empty." in page.text
    # No session: only the signed CSRF cookie its forms need, and nothing stored.
    cookies = page.headers.get_list("set-cookie")
    assert [cookie.partition("=")[0] for cookie in cookies] == ["session-csrf"]


def test_adding_to_the_cart_flashes_once(client: TestClient) -> None:
    page = client.post("/cart/add", data={"product": "tea"})
    assert page.url.path == "/"
    assert "Added Green tea to your cart." in page.text
    assert "Your cart (1)" in page.text

    again = client.get("/")
    assert "Added Green tea" not in again.text  # shown once
    assert "Your cart (1)" in again.text


def test_the_cart_adds_up(client: TestClient) -> None:
    for product in ("tea", "tea", "honey"):
        client.post("/cart/add", data={"product": product})
    page = client.get("/")
    assert "Your cart (3)" in page.text
    assert "$17.25" in page.text  # 2 x 4.50 + 8.25


def test_removing_from_the_cart(client: TestClient, sessions: SessionTester) -> None:
    sessions.seed(ShopSession(cart={"tea": 1, "jam": 2}))
    page = client.post("/cart/remove", data={"product": "jam"})
    assert "Removed Strawberry jam." in page.text
    assert sessions.read_model(ShopSession).cart == {"tea": 1}


def test_an_unknown_product_is_refused(client: TestClient) -> None:
    page = client.post("/cart/add", data={"product": "caviar"})
    assert "That product is not for sale." in page.text
    assert "Your cart is empty." in page.text


def test_a_wrong_password_shows_the_form_again_with_the_user_name(client: TestClient) -> None:
    page = client.post("/login", data={"username": "Alice", "password": "guess"})
    assert page.status_code == 200
    assert page.url.path == "/login"
    assert "Wrong user name or password." in page.text
    assert "Signed in as" not in page.text
    assert 'name="username" type="text" autocomplete="username" value="Alice"' in page.text
    assert "guess" not in page.text  # the password is typed again
    assert "set-cookie" not in page.headers  # nothing waits in a session for the next page


def test_the_kept_user_name_is_escaped(client: TestClient) -> None:
    page = client.post("/login", data={"username": '"><script>x()</script>', "password": "-"})
    assert 'value="&#34;&gt;&lt;script&gt;x()&lt;/script&gt;"' in page.text
    assert "<script>x()" not in page.text


def test_logging_in_rotates_the_id_and_keeps_the_cart(
    client: TestClient, sessions: SessionTester
) -> None:
    client.post("/cart/add", data={"product": "coffee"})
    before = client.cookies["session"]

    page = client.post("/login", data={"username": "Alice", "password": "wonderland"})

    assert page.url.path == "/"
    assert "Welcome, alice!" in page.text
    assert "Signed in as <strong>alice</strong>" in page.text
    assert "Coffee beans" in page.text
    assert client.cookies["session"] != before
    sessions.clear()
    client.cookies.set("session", before)  # the pre-login cookie is worth nothing now
    assert sessions.read() == {}


def test_the_login_page_sends_a_logged_in_user_home(
    client: TestClient, sessions: SessionTester
) -> None:
    sessions.seed(ShopSession(username="bob"), user_id="bob")
    response = client.get("/login", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_logging_out_ends_the_session(client: TestClient, sessions: SessionTester) -> None:
    sessions.seed(ShopSession(username="alice", cart={"tea": 2}), user_id="alice")
    cookie = client.cookies["session"]

    page = client.post("/logout")

    assert page.url.path == "/login"
    assert "You are logged out." in page.text
    assert "session" not in client.cookies
    client.cookies.set("session", cookie)
    assert sessions.read() == {}
    assert "Signed in as" not in client.get("/").text


def test_a_seeded_session_shows_on_the_page(client: TestClient, sessions: SessionTester) -> None:
    shop = ShopSession(username="alice", cart={"bread": 2})
    sessions.seed(shop, flashes=[FlashMessage(text="Fresh bread today")])
    page = client.get("/")
    assert "Signed in as <strong>alice</strong>" in page.text
    assert "Sourdough loaf" in page.text
    assert "Fresh bread today" in page.text
    assert sessions.read_flashes() == []  # popped when shown


def test_flash_text_is_escaped(client: TestClient, sessions: SessionTester) -> None:
    sessions.seed({}, flashes=[FlashMessage(text="<b>hi</b>")])
    page = client.get("/")
    assert "&lt;b&gt;hi&lt;/b&gt;" in page.text
