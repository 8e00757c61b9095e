"""Tests for app.py, beside it: ``pytest`` in that folder (pip install pytest httpx2).

The session is seeded and read back through the app's own store.
"""

from starlette.testclient import TestClient

from starlette_session.testing import SessionTester

from app import Cart, app


def test_adding_to_a_seeded_cart() -> None:
    with TestClient(app) as client:  # `with`: one event loop for the whole test
        sessions = SessionTester(client)
        sessions.seed(Cart(items=["apple"]))  # the next request carries this session
        client.post("/cart", params={"item": "pear"})
        assert sessions.read_model(Cart).items == ["apple", "pear"]


def test_log_in_keeps_the_cart_under_a_new_id() -> None:
    with TestClient(app) as client:
        client.post("/cart", params={"item": "fig"})
        before = client.cookies["session"]
        assert client.post("/login", params={"user": "ann"}).json()["items"] == ["fig"]
        assert client.cookies["session"] != before
        client.post("/logout")
        assert client.get("/cart").json() == {"items": [], "owner": None}
