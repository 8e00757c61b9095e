"""The test kit for users: SessionTester seeds and reads typed sessions for a TestClient."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, FastAPI
from pydantic import BaseModel
from starlette.testclient import TestClient

from starlette_session import (
    SessionHandle,
    SessionMiddlewareMissingError,
    SessionSetupError,
    SessionStore,
    get_session,
)
from starlette_session.backends import MemoryBackend, RedisBackend, SessionBackend
from starlette_session.testing import SessionTester, find_session_middleware
from tests.helpers import RedisClients, make_app


class Cart(BaseModel):
    items: list[str] = []
    owner: str | None = None


CartSession = Annotated[Cart, Depends(get_session)]


cart_routes = APIRouter()


@cart_routes.post("/cart")
async def add(item: str, session: CartSession) -> Cart:
    session.items.append(item)
    return session


@cart_routes.get("/cart")
def show(session: CartSession) -> Cart:
    return session


@cart_routes.get("/whoami")
async def whoami(handle: SessionHandle) -> str | None:
    return handle.user_id


@cart_routes.post("/login")
async def login(handle: SessionHandle) -> None:
    handle.regenerate()


@cart_routes.post("/logout")
async def logout(handle: SessionHandle) -> None:
    handle.destroy()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def client(request: pytest.FixtureRequest) -> Iterator[TestClient]:
    """A TestClient, inside its `with` block, for an app on memory or on a real Redis."""
    clients = RedisClients()  # used and closed in the TestClient's event loop
    backend: SessionBackend = MemoryBackend()
    if request.param == "redis":
        backend = RedisBackend(clients.asyncio(request.getfixturevalue("redis_url")))
    with TestClient(
        make_app(SessionStore(backend, model=Cart), routes=cart_routes.routes, fastapi=True)
    ) as test_client:
        yield test_client
        test_client.portal.call(clients.aclose)


def test_the_module_docstring_example(client: TestClient) -> None:
    sessions = SessionTester(client)
    sessions.seed(Cart(items=["apple"]))  # the next request carries this session
    client.post("/cart", params={"item": "pear"})
    assert sessions.read_model(Cart).items == ["apple", "pear"]


def test_seed_a_mapping_and_read_it_back(client: TestClient) -> None:
    sessions = SessionTester(client)
    sessions.seed({"items": ["apple"], "owner": "ann"})
    assert client.get("/cart").json() == {"items": ["apple"], "owner": "ann"}
    assert sessions.read() == {"items": ["apple"], "owner": "ann"}


def test_seed_a_user(client: TestClient) -> None:
    sessions = SessionTester(client)
    sessions.seed(Cart(), user_id="ann")
    assert client.get("/whoami").json() == "ann"


def test_read_what_an_endpoint_saved(client: TestClient) -> None:
    sessions = SessionTester(client)
    assert sessions.read() == {}
    client.post("/cart", params={"item": "apple"})
    assert sessions.read_model(Cart) == Cart(items=["apple"])


def test_seed_replaces_the_clients_session(client: TestClient) -> None:
    sessions = SessionTester(client)
    client.post("/cart", params={"item": "apple"})
    sessions.seed(Cart(items=["pear"]))
    assert client.get("/cart").json()["items"] == ["pear"]
    assert len([cookie for cookie in client.cookies.jar if cookie.name == "session"]) == 1


def session_cookies(client: TestClient) -> list[str]:
    return [str(cookie.value) for cookie in client.cookies.jar if cookie.name == "session"]


def test_the_app_replaces_a_seeded_cookie(client: TestClient) -> None:
    # The seeded cookie is the one the app's Set-Cookie replaces, not a second one beside it.
    sessions = SessionTester(client)
    sessions.seed(Cart(items=["apple"]))
    seeded = session_cookies(client)
    client.post("/login")  # a new id
    assert len(session_cookies(client)) == 1
    assert session_cookies(client) != seeded
    assert client.get("/cart").json()["items"] == ["apple"]


def test_the_app_expires_a_seeded_cookie(client: TestClient) -> None:
    sessions = SessionTester(client)
    sessions.seed(Cart(items=["apple"]))
    client.post("/logout")
    assert session_cookies(client) == []
    assert sessions.read() == {}


def test_clear_forgets_the_cookie(client: TestClient) -> None:
    sessions = SessionTester(client)
    sessions.seed(Cart(items=["apple"]))
    sessions.clear()
    assert sessions.read() == {}
    assert client.get("/cart").json() == {"items": [], "owner": None}
    sessions.clear()  # nothing to clear: no error


def test_an_empty_seed_stores_nothing(client: TestClient) -> None:
    sessions = SessionTester(client)
    sessions.seed({})
    assert sessions.cookie_name not in client.cookies


def test_without_a_with_block_on_the_memory_backend() -> None:
    # Each call runs in a short-lived event loop of its own: fine for loop-free backends.
    client = TestClient(
        make_app(SessionStore(MemoryBackend(), model=Cart), routes=cart_routes.routes, fastapi=True)
    )
    sessions = SessionTester(client)
    sessions.seed(Cart(items=["apple"]))
    client.post("/cart", params={"item": "pear"})
    assert sessions.read_model(Cart).items == ["apple", "pear"]


def test_another_cookie_name_and_https_only() -> None:
    app = make_app(
        SessionStore(model=Cart),
        cookie_name="__Host-sid",
        https_only=True,
        routes=cart_routes.routes,
        fastapi=True,
    )
    with TestClient(app, base_url="https://testserver") as client:
        sessions = SessionTester(client)
        assert sessions.cookie_name == "__Host-sid"
        sessions.seed(Cart(items=["apple"]))
        assert client.get("/cart").json()["items"] == ["apple"]


def test_an_app_without_the_middleware_is_refused() -> None:
    app = FastAPI()
    with pytest.raises(SessionMiddlewareMissingError):
        find_session_middleware(app)
    with pytest.raises(SessionMiddlewareMissingError), TestClient(app) as client:
        SessionTester(client)


def test_find_session_middleware_before_the_first_request() -> None:
    store = SessionStore(model=Cart)
    middleware = find_session_middleware(make_app(store, routes=cart_routes.routes, fastapi=True))
    assert middleware.store is store


@pytest.mark.parametrize("base_url", ["http://shop.example", "http://www.shop.example"])
def test_seed_works_for_a_host_in_the_cookies_domain(base_url: str) -> None:
    app = make_app(
        SessionStore(model=Cart), routes=cart_routes.routes, fastapi=True, domain="shop.example"
    )
    with TestClient(app, base_url=base_url) as client:
        SessionTester(client).seed(Cart(items=["apple"]))
        assert client.get("/cart").json()["items"] == ["apple"]


def test_seed_refuses_a_host_outside_the_cookies_domain() -> None:
    # The client's cookie jar would silently drop the cookie: the test would run without it.
    backend = MemoryBackend()
    with TestClient(
        make_app(
            SessionStore(backend, model=Cart),
            routes=cart_routes.routes,
            fastapi=True,
            domain="shop.example",
        )
    ) as client:
        fix = re.escape("TestClient(app, base_url='http://shop.example')")
        with pytest.raises(SessionSetupError, match=fix) as error:
            SessionTester(client).seed(Cart(items=["apple"]))
        assert "'testserver'" in str(error.value)
        assert len(backend) == 0  # nothing was stored
