"""docs_src/starlette: sessions in a plain Starlette app."""

from __future__ import annotations

import anyio
from starlette.testclient import TestClient

from tests.helpers import cookie_attributes
from tests.test_tutorial.conftest import LoadSample


def test_visits_are_counted_and_forgotten(load_sample: LoadSample) -> None:
    sample = load_sample("docs_src.starlette.app")
    with TestClient(sample.app) as client:
        assert client.get("/peek").json() == {}
        assert "session" not in client.cookies
        assert client.post("/visit").json() == {"visits": 1}
        assert client.post("/visit").json() == {"visits": 2}
        assert client.get("/peek").json() == {"visits": 2}  # the sync endpoint loads it
        client.post("/forget")
        assert "session" not in client.cookies
        assert client.post("/visit").json() == {"visits": 1}


def test_autoload_loads_before_the_endpoint(load_sample: LoadSample) -> None:
    sample = load_sample("docs_src.starlette.autoload")
    with TestClient(sample.app) as client:
        assert client.get("/", params={"name": "Ann"}).text == "Hello, stranger!"
        assert client.get("/").text == "Hello, Ann!"


def test_every_setting_as_documented(load_sample: LoadSample) -> None:
    sample = load_sample("docs_src.starlette.settings")
    with TestClient(sample.app, base_url="https://testserver") as client:
        assert sample.store.idle_timeout == 8 * 3600  # "max_age": the middleware's max_age
        first = client.get("/session")
        assert first.json() == {}
        assert "set-cookie" not in first.headers  # a visitor who changed nothing: no cookie
        assert "cache-control" not in first.headers  # and nothing private to keep out of caches

        added = client.post("/cart", params={"item": "tea"})
        assert cookie_attributes(added, "__Host-session") == {
            "max-age": str(8 * 3600),
            "path": "/",
            "httponly": "",
            "samesite": "Lax",
            "secure": "",
        }
        assert added.headers["cache-control"] == "no-store"
        client.post("/cart", params={"item": "jam"})
        shown = client.get("/session")
        assert "set-cookie" not in shown.headers
        assert shown.headers["cache-control"] == "no-store"  # it shows a session with data

        assert shown.json() == {"cart": ["tea", "jam"]}

        logged_out = client.post("/logout")
        assert logged_out.headers["clear-site-data"] == '"cache"'
        assert cookie_attributes(logged_out, "__Host-session")["max-age"] == "0"


def test_a_log_in_keeps_only_the_cart(load_sample: LoadSample) -> None:
    sample = load_sample("docs_src.starlette.settings")
    with TestClient(sample.app, base_url="https://testserver") as client:
        client.post("/cart", params={"item": "tea"})
        session = client.get("/session")
        assert session.json() == {"cart": ["tea"]}
        before = client.cookies["__Host-session"]
        assert client.post("/login", params={"user": "ann"}).json() == {"cart": ["tea"]}
        assert client.cookies["__Host-session"] != before  # a new id


def test_max_user_sessions_ends_the_oldest(load_sample: LoadSample) -> None:
    sample = load_sample("docs_src.starlette.settings")
    clients = [TestClient(sample.app, base_url="https://testserver") for _ in range(11)]
    for client in clients:
        client.post("/cart", params={"item": "tea"})
        client.post("/login", params={"user": "ann"})
    assert len(anyio.run(sample.store.user_sessions, "ann")) == 10
    assert clients[0].get("/session").json() == {}  # the oldest was ended
    assert clients[-1].get("/session").json() == {"cart": ["tea"]}
