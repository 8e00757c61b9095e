"""The JSON API: same shop, same session as the pages."""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from examples.fastapi_app import main
from examples.fastapi_app.models import ShopSession
from starlette_session.backends import RedisBackend, SQLBackend
from starlette_session.testing import SessionTester, find_session_middleware
from tests.http_support import RedisCommands, serve

SECRET = "example-api-tests-secret-0123456789abcdefghijkl"
ANONYMOUS = {"username": None, "cart": {"lines": [], "count": 0, "total_cents": 0}}


def test_products_need_no_session(client: TestClient) -> None:
    response = client.get("/api/products")
    assert [product["id"] for product in response.json()][:2] == ["tea", "coffee"]
    assert "set-cookie" not in response.headers


def test_a_new_visitor_is_anonymous_and_gets_no_cookie(client: TestClient) -> None:
    response = client.get("/api/me")
    assert response.json() == ANONYMOUS
    assert "set-cookie" not in response.headers


def test_the_cart(client: TestClient) -> None:
    assert client.post("/api/cart", json={"product": "jam", "quantity": 2}).json()["count"] == 2
    cart = client.post("/api/cart", json={"product": "tea"}).json()
    assert [(line["product"]["id"], line["quantity"]) for line in cart["lines"]] == [
        ("jam", 2),
        ("tea", 1),
    ]
    assert cart["total_cents"] == 2 * 575 + 450
    assert client.delete("/api/cart/jam").json()["count"] == 1
    assert client.get("/api/cart").json()["count"] == 1


def test_bad_cart_items_are_refused_and_save_nothing(client: TestClient) -> None:
    assert client.post("/api/cart", json={"product": "caviar"}).status_code == 404
    assert client.post("/api/cart", json={"product": "tea", "quantity": 0}).status_code == 422
    assert "session" not in client.cookies


def test_log_in_and_out(client: TestClient, app: FastAPI) -> None:
    client.post("/api/cart", json={"product": "honey"})
    anonymous = client.cookies["session"]

    assert client.post("/api/login", json={"username": "bob", "password": "x"}).status_code == 401
    me = client.post("/api/login", json={"username": "bob", "password": "builder"}).json()

    assert me["username"] == "bob"
    assert me["cart"]["count"] == 1  # the cart comes along
    logged_in = client.cookies["session"]
    assert logged_in != anonymous
    assert client.get("/api/flashes").json() == [{"level": "success", "text": "Welcome, bob!"}]
    assert client.get("/api/flashes").json() == []

    response = client.post("/api/logout")
    assert response.status_code == 204
    assert "max-age=0" in response.headers["set-cookie"].lower()
    assert client.get("/api/me").json() == ANONYMOUS
    for replayed in (anonymous, logged_in):
        client.cookies.set("session", replayed)
        assert client.get("/api/me").json() == ANONYMOUS


def test_log_in_records_the_user(client: TestClient, app: FastAPI) -> None:
    client.post("/api/login", json={"username": "alice", "password": "wonderland"})
    store = find_session_middleware(app).store
    portal = client.portal
    assert portal is not None  # inside `with TestClient(app)`
    assert len(portal.call(store.user_sessions, "alice")) == 1
    client.post("/api/logout")
    assert portal.call(store.user_sessions, "alice") == []


def test_pages_and_api_share_the_session(client: TestClient, sessions: SessionTester) -> None:
    client.post("/api/cart", json={"product": "bread"})
    assert "Sourdough loaf" in client.get("/").text
    client.post("/cart/add", data={"product": "tea"})
    assert client.get("/api/cart").json()["count"] == 2
    assert sessions.read_model(ShopSession).cart == {"bread": 1, "tea": 1}
    assert sessions.read_flashes() == []  # the page showed "Added Green tea"


@pytest.fixture
def reload_main(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], ModuleType]]:
    """Re-run main.py under the test's environment; restored afterwards."""
    monkeypatch.setenv("SESSION_SECRET", SECRET)
    yield lambda: importlib.reload(main)
    monkeypatch.undo()
    importlib.reload(main)


def test_the_default_app_keeps_sessions_in_a_sqlite_file(
    monkeypatch: pytest.MonkeyPatch, reload_main: Callable[[], ModuleType], tmp_path: Path
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("SESSIONS_DB", str(tmp_path / "sessions.db"))
    module = reload_main()
    backend = find_session_middleware(module.app).store.backend
    assert isinstance(backend, SQLBackend)
    assert backend.engine.url.database == str(tmp_path / "sessions.db")


@pytest.mark.redis
def test_the_default_app_uses_redis_url(
    monkeypatch: pytest.MonkeyPatch, reload_main: Callable[[], ModuleType], redis_url: str
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    module = reload_main()
    assert isinstance(find_session_middleware(module.app).store.backend, RedisBackend)
    with TestClient(module.app) as client:
        client.post("/api/cart", json={"product": "tea"})
        assert client.get("/api/cart").json()["count"] == 1
    commands = RedisCommands(redis_url)
    assert len(commands.keys()) == 1
    commands.close()


@pytest.mark.redis
async def test_redis_commands_over_real_http(redis_url: str) -> None:
    """Served by uvicorn: no command for the catalog, one to read the session."""
    commands = RedisCommands(redis_url)
    app = main.create_app(redis_url=redis_url, secret_key=SECRET)
    async with serve(app, lifespan="on") as base_url, httpx.AsyncClient(base_url=base_url) as http:
        await http.get("/api/me")
        assert commands.delta() == Counter()  # a new visitor who only reads

        await http.post("/api/cart", json={"product": "tea"})
        assert commands.delta() == Counter({"set": 1})

        await http.get("/api/products")
        assert commands.delta() == Counter()

        assert (await http.get("/api/me")).json()["cart"]["count"] == 1
        assert commands.delta() == Counter({"getex": 1})

        assert "Green tea" in (await http.get("/")).text
        assert commands.delta() == Counter({"getex": 1})  # no flash to pop: nothing written
    commands.close()
