"""Typed FastAPI sessions (``get_session`` and friends), over the memory backend and real Redis.

Every test that stores something runs twice, through the ``backend`` fixture: once on the memory
backend and once on a redis-server started by the suite. ``backend.activity()`` tells what reached
the backend since the previous call: counted in the process for memory, and on the server with
``INFO commandstats`` for Redis.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Annotated, Any, NamedTuple

import httpx
import jinja2
import pytest
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, WebSocket
from fastapi.responses import JSONResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict
from starlette.testclient import TestClient

from starlette_session import (
    Session,
    SessionHandle,
    SessionMiddleware,
    SessionMiddlewareMissingError,
    SessionModelNotConfiguredError,
    SessionSetupError,
    SessionStore,
    get_session,
    session_dependency,
)
from starlette_session.backends import MemoryBackend, RedisBackend, SessionBackend
from tests.helpers import SECRET, RedisClients, http_client, make_app
from tests.http_support import RedisCommands


class Cart(BaseModel):
    items: list[str] = []
    owner: str | None = None
    tags: dict[str, list[str]] = {}


class Flash(BaseModel):
    messages: list[str] = []


CartSession = Annotated[Cart, Depends(get_session)]
FlashSession = Annotated[Flash, Depends(session_dependency(Flash))]
# For an app whose middleware has cookie_name="sid": the name only matters to the OpenAPI schema.
SidCartSession = Annotated[Cart, Depends(session_dependency(Cart, cookie_name="sid"))]


# The backends under test


class CountingMemoryBackend(MemoryBackend):
    """The memory backend, counting the operations the store asks of it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()

    async def read(self, key: str, ttl: int | None = None) -> bytes | None:
        self.calls["read"] += 1
        return await super().read(key, ttl)

    async def create(
        self, key: str, value: bytes, ttl: int | None, *, logged_in: bool = False
    ) -> bool:
        self.calls["create"] += 1
        return await super().create(key, value, ttl, logged_in=logged_in)

    async def replace(
        self, key: str, expected: bytes, value: bytes, ttl: int | None, *, logged_in: bool = False
    ) -> Any:
        self.calls["replace"] += 1
        return await super().replace(key, expected, value, ttl, logged_in=logged_in)

    async def expire(self, key: str, ttl: int) -> None:
        self.calls["expire"] += 1
        await super().expire(key, ttl)

    async def delete(self, *keys: str) -> None:
        self.calls["delete"] += 1
        await super().delete(*keys)


class Activity(NamedTuple):
    reads: int
    writes: int


class BackendUnderTest:
    """A real backend, and what reached it."""

    def __init__(self, backend: SessionBackend, commands: RedisCommands | None = None) -> None:
        self.backend = backend
        self._commands = commands
        self._seen: Counter[str] = Counter()

    @property
    def name(self) -> str:
        return "redis" if self._commands is not None else "memory"

    def activity(self) -> Activity:
        """Reads and writes since the previous call."""
        if self._commands is not None:
            counts = self._commands.delta()
            reads = counts["getex"] + (0 if counts["evalsha"] else counts["get"])
            return Activity(reads, self._commands.writes(counts))
        assert isinstance(self.backend, CountingMemoryBackend)
        counts = self.backend.calls - self._seen
        self._seen = self.backend.calls.copy()
        return Activity(counts["read"], sum(counts.values()) - counts["read"])

    def entries(self) -> int:
        if self._commands is not None:
            return len(self._commands.keys())
        assert isinstance(self.backend, MemoryBackend)
        return len(self.backend)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request: pytest.FixtureRequest) -> Iterator[BackendUnderTest]:
    if request.param == "memory":
        yield BackendUnderTest(CountingMemoryBackend())
        return
    url: str = request.getfixturevalue("redis_url")
    clients: RedisClients = request.getfixturevalue("redis_clients")
    commands = RedisCommands(url)
    try:
        yield BackendUnderTest(RedisBackend(clients.asyncio(url)), commands)
    finally:
        commands.close()


# The application


cart_routes = APIRouter()


@cart_routes.get("/ping")
def ping() -> str:
    return "pong"


@cart_routes.post("/cart")
async def add(item: str, session: Cart = Depends(get_session)) -> Cart:  # noqa: B008
    session.items.append(item)
    return session


@cart_routes.get("/cart")
def show(session: CartSession) -> Cart:
    return session


@cart_routes.post("/owner")
async def set_owner(name: str, session: CartSession) -> Cart:
    session.owner = name
    return session


@cart_routes.post("/tags")
async def tag(name: str, tag: str, session: CartSession) -> Cart:
    session.tags.setdefault(name, []).append(tag)
    return session


@cart_routes.post("/touch")
async def touch(session: CartSession) -> Cart:
    session.items.append("gone")
    session.items.pop()
    return session


@cart_routes.get("/same")
async def same(
    request: Request,
    first: CartSession,
    second: Cart = Depends(get_session),  # noqa: B008
    third: Cart = Depends(session_dependency(Cart)),  # noqa: B008
) -> dict[str, bool]:
    session = request.session
    assert isinstance(session, Session)
    return {"same": first is second is third is session.model(Cart)}


@cart_routes.post("/both")
async def both(item: str, request: Request, session: CartSession) -> dict[str, Any]:
    session.items.append(item)
    return dict(request.session)


@cart_routes.get("/mapping")
def read_mapping(request: Request) -> dict[str, Any]:
    return dict(request.session)


@cart_routes.post("/mapping")
def write_mapping(key: str, value: str, request: Request) -> dict[str, Any]:
    request.session[key] = value
    return dict(request.session)


@cart_routes.post("/flash")
async def flash(message: str, flashes: FlashSession) -> Flash:
    flashes.messages.append(message)
    return flashes


@cart_routes.get("/flash")
async def pop_flashes(flashes: FlashSession) -> list[str]:
    messages = list(flashes.messages)
    flashes.messages.clear()
    return messages


@cart_routes.post("/checkout")
async def checkout(session: CartSession, flashes: FlashSession) -> None:
    flashes.messages.append(f"bought {len(session.items)} items")
    session.items.clear()


@cart_routes.post("/fail/raise")
async def fail_raise(session: CartSession) -> None:
    session.items.append("lost")
    raise RuntimeError("boom")


@cart_routes.post("/fail/503")
async def fail_503(session: CartSession) -> JSONResponse:
    session.items.append("lost")
    return JSONResponse({"detail": "unavailable"}, status_code=503)


@cart_routes.post("/fail/404")
async def fail_404(session: CartSession) -> None:
    session.items.append("kept")
    raise HTTPException(status_code=404)


@cart_routes.post("/login")
async def login(user: str, handle: SessionHandle, session: CartSession) -> Cart:
    handle.regenerate()
    handle.set_user(user)
    session.owner = user
    return session


@cart_routes.post("/logout")
async def logout(handle: SessionHandle) -> None:
    handle.destroy()


@cart_routes.post("/logout-then-fail")
async def logout_then_fail(handle: SessionHandle) -> None:
    handle.destroy()
    raise RuntimeError("boom")


@cart_routes.get("/whoami")
async def whoami(handle: SessionHandle) -> dict[str, Any]:
    return {"user": handle.user_id, "new": handle.is_new}


@cart_routes.post("/remember")
async def remember(handle: SessionHandle, session: CartSession) -> None:
    handle.set_lifetime(60)


@cart_routes.websocket("/ws")
async def cart_socket(websocket: WebSocket, session: CartSession) -> None:
    await websocket.accept()
    await websocket.send_json(session.model_dump())
    session.items.append(await websocket.receive_text())
    await websocket.send_json(session.model_dump())
    await websocket.close()


@pytest.fixture
def store(backend: BackendUnderTest) -> SessionStore[Cart]:
    return SessionStore(backend.backend, model=Cart)


@pytest.fixture
async def client(store: SessionStore[Cart]) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(
        make_app(store, routes=cart_routes.routes, fastapi=True), raise_app_exceptions=False
    ) as client:
        yield client


async def stored(store: SessionStore[Any], cookie: str | None) -> dict[str, Any] | None:
    """What the backend holds for this cookie (None: nothing)."""
    if cookie is None:
        return None
    session = await Session(store, cookie).load()
    return None if session.is_new else dict.copy(session)


def session_id(store: SessionStore[Any], cookie: str) -> str:
    unsigned = store.signer.unsign(cookie)
    assert unsigned is not None
    return unsigned.payload


EMPTY: dict[str, Any] = {"items": [], "owner": None, "tags": {}}


# Defaults


def test_memory_backend_is_the_default() -> None:
    assert isinstance(SessionStore(model=Cart).backend, MemoryBackend)


def test_a_given_backend_is_used_even_while_empty() -> None:
    backend = MemoryBackend()
    assert SessionStore(backend, model=Cart).backend is backend


# Round trips


async def test_typed_round_trip(client: httpx.AsyncClient, store: SessionStore[Cart]) -> None:
    assert (await client.post("/cart", params={"item": "apple"})).json()["items"] == ["apple"]
    assert (await client.post("/cart", params={"item": "pear"})).json()["items"] == [
        "apple",
        "pear",
    ]
    # The sync endpoint, through the Annotated alias, reads what the async one saved.
    assert (await client.get("/cart")).json() == {**EMPTY, "items": ["apple", "pear"]}
    assert await stored(store, client.cookies.get("session")) == {
        **EMPTY,
        "items": ["apple", "pear"],
    }


async def test_each_use_in_a_request_gets_the_same_instance(client: httpx.AsyncClient) -> None:
    assert (await client.get("/same")).json() == {"same": True}


async def test_nested_mutation_is_saved(
    client: httpx.AsyncClient, store: SessionStore[Cart]
) -> None:
    await client.post("/tags", params={"name": "fruit", "tag": "red"})
    await client.post("/tags", params={"name": "fruit", "tag": "sweet"})
    await client.post("/tags", params={"name": "veg", "tag": "green"})
    expected = {"fruit": ["red", "sweet"], "veg": ["green"]}
    assert (await client.get("/cart")).json()["tags"] == expected
    data = await stored(store, client.cookies.get("session"))
    assert data is not None
    assert data["tags"] == expected


# What is written, and when


@pytest.mark.parametrize("path", ["/cart", "/same", "/mapping"])
async def test_an_untouched_session_writes_nothing(
    client: httpx.AsyncClient, backend: BackendUnderTest, path: str
) -> None:
    await client.post("/cart", params={"item": "apple"})
    backend.activity()
    response = await client.get(path)
    assert response.status_code == 200
    assert backend.activity() == Activity(reads=1, writes=0)
    assert "set-cookie" not in response.headers


async def test_setting_a_field_to_its_value_writes_nothing(
    client: httpx.AsyncClient, backend: BackendUnderTest
) -> None:
    await client.post("/owner", params={"name": "ann"})
    backend.activity()
    await client.post("/owner", params={"name": "ann"})
    assert backend.activity() == Activity(reads=1, writes=0)


async def test_a_request_without_session_touches_no_backend(
    client: httpx.AsyncClient, backend: BackendUnderTest
) -> None:
    await client.post("/cart", params={"item": "apple"})
    backend.activity()
    assert (await client.get("/ping")).status_code == 200
    assert backend.activity() == Activity(reads=0, writes=0)


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/cart"), ("GET", "/flash"), ("GET", "/same"), ("POST", "/touch")]
)
async def test_a_new_unchanged_session_creates_no_entry_and_no_cookie(
    client: httpx.AsyncClient, backend: BackendUnderTest, method: str, path: str
) -> None:
    backend.activity()
    response = await client.request(method, path)
    assert response.status_code == 200
    assert "set-cookie" not in response.headers
    assert backend.activity() == Activity(reads=0, writes=0)
    assert backend.entries() == 0


@pytest.mark.parametrize("path", ["/fail/raise", "/fail/503"])
async def test_nothing_is_saved_on_a_5xx(
    client: httpx.AsyncClient, backend: BackendUnderTest, path: str
) -> None:
    await client.post("/cart", params={"item": "apple"})
    backend.activity()
    response = await client.post(path)
    assert response.status_code >= 500
    assert backend.activity().writes == 0
    assert "set-cookie" not in response.headers
    assert (await client.get("/cart")).json()["items"] == ["apple"]


@pytest.mark.parametrize("path", ["/fail/raise", "/fail/503"])
async def test_a_new_visitor_failing_request_creates_nothing(
    client: httpx.AsyncClient, backend: BackendUnderTest, path: str
) -> None:
    response = await client.post(path)
    assert response.status_code >= 500
    assert "set-cookie" not in response.headers
    assert backend.entries() == 0


async def test_an_http_exception_below_500_still_saves(client: httpx.AsyncClient) -> None:
    assert (await client.post("/fail/404")).status_code == 404
    assert (await client.get("/cart")).json()["items"] == ["kept"]


async def test_save_on_error_saves_a_5xx_response(backend: BackendUnderTest) -> None:
    store = SessionStore(backend.backend, model=Cart, save_on_error=True)
    async with http_client(
        make_app(store, routes=cart_routes.routes, fastapi=True), raise_app_exceptions=False
    ) as client:
        assert (await client.post("/fail/503")).status_code == 503
        assert (await client.get("/cart")).json()["items"] == ["lost"]


# Bad stored data


def assert_no_session_id_logged(caplog: pytest.LogCaptureFixture, secrets: list[str]) -> None:
    for record in caplog.records:
        text = record.getMessage()
        for secret in secrets:
            assert secret not in text


async def test_data_that_no_longer_validates_gives_a_fresh_session(
    client: httpx.AsyncClient,
    store: SessionStore[Cart],
    backend: BackendUnderTest,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # An older release stored "items" as a string: it no longer validates as list[str].
    await client.post("/mapping", params={"key": "items", "value": "apple,pear"})
    cookie = client.cookies["session"]
    sid = session_id(store, cookie)
    caplog.set_level(logging.WARNING, logger="starlette_session")

    response = await client.get("/cart")

    assert response.status_code == 200
    assert response.json() == EMPTY
    warnings = [r for r in caplog.records if r.name == "starlette_session.security"]
    assert any("does not validate against Cart" in r.getMessage() for r in warnings)
    assert_no_session_id_logged(caplog, [cookie, sid, store.storage_key(sid)])
    # The unusable entry is gone, and so is the cookie.
    assert "max-age=0" in response.headers["set-cookie"].lower()
    assert backend.entries() == 0
    assert (await client.post("/cart", params={"item": "plum"})).json()["items"] == ["plum"]


async def test_a_fresh_session_after_bad_data_gets_a_new_id(
    client: httpx.AsyncClient, store: SessionStore[Cart]
) -> None:
    await client.post("/mapping", params={"key": "items", "value": "apple,pear"})
    old = client.cookies["session"]
    response = await client.post("/cart", params={"item": "plum"})
    assert response.json()["items"] == ["plum"]
    new = client.cookies["session"]
    assert session_id(store, new) != session_id(store, old)
    assert await stored(store, old) is None


async def test_a_corrupt_entry_gives_a_fresh_session(
    client: httpx.AsyncClient,
    store: SessionStore[Cart],
    backend: BackendUnderTest,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await client.post("/cart", params={"item": "apple"})
    cookie = client.cookies["session"]
    key = store.storage_key(session_id(store, cookie))
    await backend.backend.delete(key)
    assert await backend.backend.create(key, b"\x00not json{", 60)
    caplog.set_level(logging.WARNING, logger="starlette_session")

    response = await client.get("/cart")

    assert response.status_code == 200
    assert response.json() == EMPTY
    assert_no_session_id_logged(caplog, [cookie, session_id(store, cookie), key])
    assert await backend.backend.read(key) is None


def split_items(old: dict[str, Any]) -> dict[str, Any] | None:
    """Release 1 stored the cart as "a,b"; release 2 stores a list."""
    items = old.get("items")
    if isinstance(items, str):
        return {**old, "items": items.split(",")}
    return None


async def test_the_migrate_hook_fixes_old_data(
    backend: BackendUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    store = SessionStore(backend.backend, model=Cart, migrate=split_items)
    async with http_client(
        make_app(store, routes=cart_routes.routes, fastapi=True), raise_app_exceptions=False
    ) as client:
        await client.post("/mapping", params={"key": "items", "value": "apple,pear"})
        cookie = client.cookies["session"]

        response = await client.get("/cart")

        assert response.json()["items"] == ["apple", "pear"]
        assert client.cookies["session"] == cookie  # the same session, fixed in place
        assert await stored(store, cookie) == {"items": ["apple", "pear"]}
        assert (await client.post("/cart", params={"item": "plum"})).json()["items"] == [
            "apple",
            "pear",
            "plum",
        ]


@pytest.mark.parametrize(
    "migrate",
    [lambda old: None, lambda old: {"items": 42}],
    ids=["gives-up", "still-invalid"],
)
async def test_a_failed_migration_gives_a_fresh_session(
    backend: BackendUnderTest, migrate: Callable[[dict[str, Any]], dict[str, Any] | None]
) -> None:
    store = SessionStore(backend.backend, model=Cart, migrate=migrate)
    async with http_client(
        make_app(store, routes=cart_routes.routes, fastapi=True), raise_app_exceptions=False
    ) as client:
        await client.post("/mapping", params={"key": "items", "value": "apple,pear"})
        response = await client.get("/cart")
        assert response.status_code == 200
        assert response.json() == EMPTY


class Basket(BaseModel):
    """Release 2 renamed ``products`` to ``items``; unknown keys are refused, so that the old
    data fails to validate and reaches ``migrate``."""

    model_config = ConfigDict(extra="forbid")
    items: list[str] = []


async def test_the_migrate_hook_handles_a_renamed_field(backend: BackendUnderTest) -> None:
    def rename(old: dict[str, Any]) -> dict[str, Any] | None:
        if "products" not in old:
            return None
        return {"items": old.pop("products"), **old}

    store = SessionStore(backend.backend, model=Basket, migrate=rename)
    app = FastAPI()
    app.add_middleware(SessionMiddleware, secret_key=SECRET, store=store)

    @app.post("/old")
    def old_release(request: Request) -> None:
        request.session["products"] = ["apple"]

    @app.get("/basket")
    async def basket(session: Basket = Depends(get_session)) -> Basket:  # noqa: B008
        return session

    async with http_client(app, raise_app_exceptions=False) as client:
        await client.post("/old")
        assert (await client.get("/basket")).json() == {"items": ["apple"]}
        assert await stored(store, client.cookies["session"]) == {"items": ["apple"]}


# One session, several views


async def test_request_session_and_the_model_show_the_same_data(
    client: httpx.AsyncClient,
) -> None:
    # A change to the model shows in request.session within the same request...
    both = await client.post("/both", params={"item": "apple"})
    assert both.json() == {**EMPTY, "items": ["apple"]}
    # ... and in the next one, where a sync endpoint reads the mapping.
    assert (await client.get("/mapping")).json() == {**EMPTY, "items": ["apple"]}
    # A change through the mapping shows in the model.
    await client.post("/mapping", params={"key": "owner", "value": "zoe"})
    assert (await client.get("/cart")).json() == {**EMPTY, "items": ["apple"], "owner": "zoe"}


async def test_several_models_share_one_session(
    client: httpx.AsyncClient, store: SessionStore[Cart]
) -> None:
    await client.post("/flash", params={"message": "hello"})
    await client.post("/cart", params={"item": "apple"})
    cookie = client.cookies["session"]
    assert await stored(store, cookie) == {"messages": ["hello"], **EMPTY, "items": ["apple"]}

    assert (await client.get("/flash")).json() == ["hello"]  # shown once, then gone
    assert (await client.get("/flash")).json() == []
    assert (await client.get("/cart")).json()["items"] == ["apple"]

    await client.post("/checkout")  # both models changed in one request
    assert (await client.get("/cart")).json()["items"] == []
    assert (await client.get("/flash")).json() == ["bought 1 items"]
    assert client.cookies["session"] == cookie


# Lifecycle on the typed path


async def test_log_in_rotates_the_id_and_keeps_the_data(
    client: httpx.AsyncClient, store: SessionStore[Cart]
) -> None:
    await client.post("/cart", params={"item": "apple"})
    before = client.cookies["session"]

    cart = await client.post("/login", params={"user": "ann"})

    assert cart.json() == {**EMPTY, "items": ["apple"], "owner": "ann"}
    after = client.cookies["session"]
    assert session_id(store, after) != session_id(store, before)
    assert await stored(store, before) is None  # the old id finds nothing
    assert (await client.get("/whoami")).json() == {"user": "ann", "new": False}
    assert (await client.get("/cart")).json()["items"] == ["apple"]
    assert len(await store.user_sessions("ann")) == 1


async def test_log_out_destroys_the_session_and_expires_the_cookie(
    client: httpx.AsyncClient, store: SessionStore[Cart]
) -> None:
    await client.post("/cart", params={"item": "apple"})
    await client.post("/login", params={"user": "ann"})
    cookie = client.cookies["session"]

    response = await client.post("/logout")

    assert "max-age=0" in response.headers["set-cookie"].lower()
    assert "session" not in client.cookies
    assert await stored(store, cookie) is None
    assert await store.user_sessions("ann") == []
    assert (await client.get("/whoami")).json() == {"user": None, "new": True}


async def test_log_out_deletes_even_when_the_request_fails(
    client: httpx.AsyncClient, store: SessionStore[Cart]
) -> None:
    await client.post("/cart", params={"item": "apple"})
    cookie = client.cookies["session"]
    assert (await client.post("/logout-then-fail")).status_code == 500
    assert await stored(store, cookie) is None


async def test_set_lifetime_sets_the_cookie_max_age(client: httpx.AsyncClient) -> None:
    await client.post("/cart", params={"item": "apple"})
    response = await client.post("/remember")
    assert "Max-Age=60;" in response.headers["set-cookie"]
    assert (await client.get("/cart")).json()["items"] == ["apple"]


# WebSocket


@pytest.mark.parametrize("kind", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
def test_a_websocket_endpoint_reads_and_saves_the_typed_session(
    kind: str, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:
    clients = RedisClients()  # used and closed in the TestClient's event loop
    backend: SessionBackend = MemoryBackend()
    if kind == "redis":
        backend = RedisBackend(clients.asyncio(request.getfixturevalue("redis_url")))
    store = SessionStore(backend, model=Cart)
    caplog.set_level(logging.WARNING, logger="starlette_session")
    with TestClient(make_app(store, routes=cart_routes.routes, fastapi=True)) as http:
        with http.websocket_connect("/ws") as socket:  # a new visitor
            assert socket.receive_json() == EMPTY
            socket.send_text("pear")
            assert socket.receive_json()["items"] == ["pear"]

        http.post("/cart", params={"item": "apple"})
        with http.websocket_connect("/ws") as socket:
            assert socket.receive_json()["items"] == ["apple"]
            socket.send_text("pear")
            assert socket.receive_json()["items"] == ["apple", "pear"]

        # The new visitor's change was not saved (a WebSocket cannot create a session, nor set
        # its cookie); the stored session's change was, when the connection ended.
        assert "cannot create a session" in caplog.text
        assert http.get("/cart").json()["items"] == ["apple", "pear"]
        http.portal.call(clients.aclose)


# Templates


def test_a_template_page_saves_its_typed_session() -> None:
    # TemplateResponse sends "http.response.debug" before the response starts (under TestClient).
    templates = Jinja2Templates(
        env=jinja2.Environment(
            loader=jinja2.DictLoader({"cart.html": "{{ cart.items | join(',') }}"}), autoescape=True
        )
    )
    app = FastAPI()
    app.add_middleware(SessionMiddleware, secret_key=SECRET, store=SessionStore(model=Cart))

    @app.post("/cart")
    async def page(item: str, request: Request, session: CartSession) -> Response:
        session.items.append(item)
        return templates.TemplateResponse(request, "cart.html", {"cart": session})

    with TestClient(app) as client:
        assert client.post("/cart", params={"item": "apple"}).text == "apple"
        assert client.post("/cart", params={"item": "pear"}).text == "apple,pear"


# OpenAPI


def test_the_cookie_is_an_optional_security_scheme_in_openapi() -> None:
    schema = make_app(SessionStore(model=Cart), routes=cart_routes.routes, fastapi=True).openapi()
    scheme = schema["components"]["securitySchemes"]["SessionCookie"]
    assert scheme["type"] == "apiKey"
    assert scheme["in"] == "cookie"
    assert scheme["name"] == "session"
    paths = schema["paths"]
    assert paths["/cart"]["get"]["security"] == [{"SessionCookie": []}]
    assert paths["/flash"]["get"]["security"] == [{"SessionCookie": []}]
    assert paths["/whoami"]["get"]["security"] == [{"SessionCookie": []}]
    assert "security" not in paths["/ping"]["get"]
    # Not a parameter the client must send.
    for operation in (paths["/cart"]["get"], paths["/whoami"]["get"]):
        assert all(p.get("in") != "cookie" for p in operation.get("parameters", []))


async def test_the_cookie_is_not_required_at_runtime() -> None:
    async with http_client(
        make_app(SessionStore(model=Cart), routes=cart_routes.routes, fastapi=True),
        raise_app_exceptions=False,
    ) as client:
        assert (await client.get("/cart")).status_code == 200
        client.cookies.set("session", "forged.value.signature")
        assert (await client.get("/cart")).json() == EMPTY
        assert (await client.get("/whoami")).status_code == 200


def test_session_dependency_names_another_cookie_in_openapi() -> None:
    store = SessionStore(model=Cart)
    app = FastAPI()
    app.add_middleware(SessionMiddleware, secret_key=SECRET, store=store, cookie_name="sid")

    @app.post("/cart")
    async def add(item: str, session: SidCartSession) -> Cart:
        session.items.append(item)
        return session

    scheme = app.openapi()["components"]["securitySchemes"]["SessionCookie"]
    assert scheme["name"] == "sid"
    with TestClient(app) as client:
        client.post("/cart", params={"item": "apple"})
        assert "sid" in client.cookies
        assert client.post("/cart", params={"item": "pear"}).json()["items"] == ["apple", "pear"]


# Errors that say how to fix them


async def test_a_missing_middleware_raises_a_named_error() -> None:
    app = FastAPI()

    @app.get("/cart")
    async def show(session: CartSession) -> Cart:
        return session

    @app.get("/handle")
    async def handle(handle: SessionHandle) -> None:
        pass

    async with http_client(app) as client:
        for path in ("/cart", "/handle"):
            with pytest.raises(SessionMiddlewareMissingError, match=r"add_middleware\("):
                await client.get(path)


async def test_a_store_without_a_model_raises_a_named_error() -> None:
    app = FastAPI()
    app.add_middleware(SessionMiddleware, secret_key=SECRET, store=SessionStore(MemoryBackend()))

    @app.get("/cart")
    async def show(session: CartSession) -> Cart:
        return session

    @app.post("/flash")
    async def flash(flashes: FlashSession) -> Flash:
        flashes.messages.append("hi")
        return flashes

    async with http_client(app) as client:
        with pytest.raises(SessionModelNotConfiguredError, match=r"SessionStore\(model="):
            await client.get("/cart")
        # A model of its own needs no store model.
        assert (await client.post("/flash")).json() == {"messages": ["hi"]}


async def test_a_model_without_defaults_raises_a_named_error() -> None:
    class Login(BaseModel):
        name: str

    app = FastAPI()
    app.add_middleware(SessionMiddleware, secret_key=SECRET, store=SessionStore(model=Login))

    @app.get("/")
    async def show(session: Login = Depends(get_session)) -> Login:  # noqa: B008
        return session

    async with http_client(app) as client:
        with pytest.raises(SessionSetupError, match="give every field a default"):
            await client.get("/")


@pytest.mark.parametrize("store", [SessionStore(MemoryBackend()), None], ids=["store", "none"])
async def test_get_session_without_a_model_says_how_to_give_one(
    store: SessionStore[Any] | None,
) -> None:
    # Also to a user who built no SessionStore at all: the middleware built one without a model.
    app = FastAPI()
    app.add_middleware(SessionMiddleware, secret_key=SECRET, store=store)

    @app.get("/cart")
    async def show(session: Cart = Depends(get_session)) -> Cart:  # noqa: B008
        return session

    async with http_client(app) as client:
        with pytest.raises(SessionModelNotConfiguredError) as error:
            await client.get("/cart")
    message = str(error.value)
    assert message.startswith("Depends(get_session) returns the session as the model")
    assert "store=SessionStore(model=YourModel)" in message
    assert "session_dependency(YourModel)" in message
    assert "get_session_handle" in message


def test_the_errors_are_setup_errors() -> None:
    assert issubclass(SessionMiddlewareMissingError, SessionSetupError)
    assert issubclass(SessionModelNotConfiguredError, SessionSetupError)
