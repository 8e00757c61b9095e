"""SessionMiddleware: the cookie it sends, the headers it adds, what it does with bad cookies,
key rotation, non-HTTP scopes, WebSockets, and the status codes of session errors."""

from __future__ import annotations

import asyncio
import gc
import logging
import warnings
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from starlette_session import SessionMiddleware, SessionStore, SessionTooLargeError, load_session
from starlette_session.backends import CookieBackend, MemoryBackend
from starlette_session.signing import CookieSigner
from tests.helpers import (
    SECRET,
    cookie_attributes,
    http_client,
    make_app,
    session_cookie,
    set_cookie_headers,
)
from tests.servers import RedisServer

OLD_SECRET = "an-older-secret-that-is-long-enough-to-not-warn"
NEW_SECRET = "a-newer-secret-that-is-long-enough-to-not-warn"
COOKIE_SALT = "starlette-session.cookie"
DEFAULT_ATTRIBUTES = {"max-age": "1209600", "path": "/", "httponly": "", "samesite": "Lax"}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(make_app()) as http:
        yield http


# The Set-Cookie header


async def test_the_default_cookie_is_http_only_lax_for_fourteen_days(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/set", params={"a": "1"})
    assert cookie_attributes(response) == DEFAULT_ATTRIBUTES


@pytest.mark.parametrize(
    ("options", "changed"),
    [
        ({"https_only": True}, {"secure": ""}),
        ({"domain": "example.com"}, {"domain": "example.com"}),
        ({"path": "/app"}, {"path": "/app"}),
        ({"max_age": 3600}, {"max-age": "3600"}),
        ({"max_age": None}, {"max-age": None}),
        ({"http_only": False}, {"httponly": None}),
        ({"same_site": "strict"}, {"samesite": "Strict"}),
        ({"same_site": "none", "https_only": True}, {"samesite": "None", "secure": ""}),
        ({"partitioned": True, "https_only": True}, {"partitioned": "", "secure": ""}),
    ],
)
async def test_cookie_options_become_cookie_attributes(
    options: dict[str, Any], changed: dict[str, str | None]
) -> None:
    expected = {
        name: value for name, value in (DEFAULT_ATTRIBUTES | changed).items() if value is not None
    }
    async with http_client(make_app(**options), base_url="https://testserver") as http:
        response = await http.get("/set", params={"a": "1"})
    assert cookie_attributes(response) == expected


async def test_the_cookie_holds_a_signed_id_and_never_the_data(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/set", params={"secret-data": "swordfish"})
    value = session_cookie(response)
    assert value is not None
    assert "swordfish" not in value
    unsigned = CookieSigner(SECRET, salt=COOKIE_SALT).unsign(value)
    assert unsigned is not None
    assert unsigned.key_index == 0


async def test_exactly_one_set_cookie_per_session_change(client: httpx.AsyncClient) -> None:
    response = await client.get("/set", params={"a": "1", "b": "2"})
    assert len(set_cookie_headers(response)) == 1


async def test_an_unchanged_session_sends_no_set_cookie(client: httpx.AsyncClient) -> None:
    await client.get("/set", params={"a": "1"})
    for path in ("/get", "/sync-get", "/unused"):
        response = await client.get(path)
        assert "set-cookie" not in response.headers, path
    assert (await client.get("/get")).json() == {"a": "1"}


async def test_changing_a_session_keeps_its_cookie(client: httpx.AsyncClient) -> None:
    first = session_cookie(await client.get("/set", params={"a": "1"}))
    response = await client.get("/set", params={"a": "2"})
    assert "set-cookie" not in response.headers
    assert client.cookies["session"] == first
    assert (await client.get("/get")).json() == {"a": "2"}


# Vary and Cache-Control


async def test_a_request_using_its_session_varies_on_cookie(client: httpx.AsyncClient) -> None:
    for path in ("/get", "/set", "/sync-get"):
        response = await client.get(path)
        assert response.headers["vary"] == "Cookie", path


async def test_a_request_not_using_its_session_does_not_vary_on_cookie(
    client: httpx.AsyncClient,
) -> None:
    await client.get("/set", params={"a": "1"})
    response = await client.get("/unused")
    assert "vary" not in response.headers
    assert "cache-control" not in response.headers


async def test_cookie_is_added_to_the_apps_own_vary_header() -> None:
    async def endpoint(request: Request) -> Response:
        await load_session(request)
        return PlainTextResponse("ok", headers={"Vary": "Accept-Encoding"})

    async with http_client(make_app_with(endpoint)) as http:
        response = await http.get("/")
    assert response.headers["vary"] == "Accept-Encoding, Cookie"


async def test_a_response_setting_the_cookie_or_showing_a_session_is_not_cached(
    client: httpx.AsyncClient,
) -> None:
    assert "cache-control" not in (await client.get("/get")).headers, "an empty session"
    response = await client.get("/set", params={"a": "1"})
    assert response.headers["cache-control"] == "no-store"
    assert (await client.get("/get")).headers["cache-control"] == "no-store"
    assert "cache-control" not in (await client.get("/unused")).headers


async def test_no_store_replaces_the_apps_cache_control_when_the_cookie_is_set() -> None:
    async def endpoint(request: Request) -> Response:
        (await load_session(request))["a"] = 1
        return PlainTextResponse("ok", headers={"Cache-Control": "public, max-age=60"})

    async with http_client(make_app_with(endpoint)) as http:
        assert (await http.get("/")).headers.get_list("cache-control") == ["no-store"]


async def test_cache_control_none_leaves_the_apps_header_alone() -> None:
    async def endpoint(request: Request) -> Response:
        (await load_session(request))["a"] = 1
        return PlainTextResponse("ok", headers={"Cache-Control": "private"})

    async with http_client(make_app_with(endpoint, cache_control=None)) as http:
        response = await http.get("/")
    assert response.headers.get_list("cache-control") == ["private"]
    assert session_cookie(response) is not None


def make_app_with(
    endpoint: Callable[[Request], Any], store: SessionStore[Any] | None = None, **options: Any
) -> Starlette:
    app: Starlette = make_app(store, routes=[Route("/", endpoint)], **options)
    return app


# The app's own cookies


async def test_the_apps_cookies_survive_next_to_exactly_one_session_cookie() -> None:
    async def endpoint(request: Request) -> Response:
        (await load_session(request))["a"] = 1
        response = PlainTextResponse("ok")
        response.set_cookie("theme", "dark")
        response.set_cookie("session", "set-by-the-app")
        response.set_cookie("lang", "fr")
        return response

    async with http_client(make_app_with(endpoint)) as http:
        response = await http.get("/")
    headers = set_cookie_headers(response)
    assert [header.split("=", 1)[0] for header in headers] == ["theme", "lang", "session"]
    assert session_cookie(response) != "set-by-the-app"


async def test_the_apps_cookies_survive_when_the_session_is_unchanged() -> None:
    async def endpoint(request: Request) -> Response:
        await load_session(request)
        response = PlainTextResponse("ok")
        response.set_cookie("theme", "dark")
        return response

    async with http_client(make_app_with(endpoint)) as http:
        response = await http.get("/")
    assert [header.split("=", 1)[0] for header in set_cookie_headers(response)] == ["theme"]


# Cookies the middleware cannot use


def _signed_by_other_key(value: str) -> str:
    payload = CookieSigner(SECRET, salt=COOKIE_SALT).unsign(value)
    assert payload is not None
    return CookieSigner(OLD_SECRET, salt=COOKIE_SALT).sign(payload.payload)


BAD_COOKIES: dict[str, Callable[[str], str]] = {
    "forged": lambda value: "forged-id.65f0a1b2.c2lnbmF0dXJlLW9mLW5vLWtleQ",
    "signed-by-another-key": _signed_by_other_key,
    "truncated": lambda value: value[:-5],
    # The first character changed (an id starting with "x" would otherwise stay the same).
    "id-changed": lambda value: ("y" if value.startswith("x") else "x") + value[1:],
    "signature-only": lambda value: value.rsplit(".", 1)[1],
    "empty": lambda value: "",
    "quoted": lambda value: f'"{value}x"',
    "not-base64": lambda value: "%%%%.!!!.$$$",
    "huge": lambda value: "a" * 8000,
}


@pytest.mark.parametrize("spoil", BAD_COOKIES.values(), ids=BAD_COOKIES.keys())
async def test_an_unusable_cookie_gives_a_fresh_empty_session(
    client: httpx.AsyncClient, spoil: Callable[[str], str], caplog: pytest.LogCaptureFixture
) -> None:
    value = session_cookie(await client.get("/set", params={"a": "1"}))
    assert value is not None
    bad = spoil(value)
    client.cookies.clear()
    client.cookies.set("session", bad)

    with caplog.at_level(logging.WARNING, "starlette_session.security"):
        assert (await client.get("/get")).json() == {}
        assert (await client.get("/sync-get")).json() == {}
        response = await client.get("/set", params={"b": "2"})

    assert response.status_code == 200
    assert response.json() == {"b": "2"}
    assert session_cookie(response) not in (None, value, bad)
    if bad:
        assert caplog.records, "a rejected cookie is logged"
        assert all(value not in record.getMessage() for record in caplog.records)


async def test_a_cookie_for_a_session_the_store_no_longer_has_gives_a_fresh_session() -> None:
    backend = MemoryBackend()
    async with http_client(make_app(SessionStore(backend))) as http:
        value = session_cookie(await http.get("/set", params={"a": "1"}))
        await backend.delete(*list(backend._entries))  # expired, or deleted by an admin
        assert (await http.get("/get")).json() == {}
        response = await http.get("/set", params={"b": "2"})
    assert session_cookie(response) not in (None, value)


async def test_an_expired_cookie_backend_cookie_gives_a_fresh_session() -> None:
    store: SessionStore[Any] = SessionStore(CookieBackend(), idle_timeout=60)
    async with http_client(make_app(store)) as http:
        value = session_cookie(await http.get("/set", params={"a": "1"}))
        assert value is not None
        payload = CookieSigner(SECRET, salt=COOKIE_SALT).unsign(value)
        assert payload is not None
        old = CookieSigner(SECRET, salt=COOKIE_SALT).sign(payload.payload, payload.issued_at - 61)
        http.cookies.clear()
        http.cookies.set("session", old)
        assert (await http.get("/get")).json() == {}


async def test_only_the_first_session_cookie_of_a_request_is_read(
    client: httpx.AsyncClient,
) -> None:
    value = session_cookie(await client.get("/set", params={"a": "1"}))
    client.cookies.clear()
    response = await client.get("/get", headers={"Cookie": f"session={value}; session=other"})
    assert response.json() == {"a": "1"}


# Secret rotation


async def test_a_cookie_signed_by_an_older_key_is_accepted_and_reissued() -> None:
    backend = MemoryBackend()
    async with http_client(make_app(SessionStore(backend), secret_key=OLD_SECRET)) as http:
        old_cookie = session_cookie(await http.get("/set", params={"a": "1"}))
    assert old_cookie is not None

    rotated = make_app(SessionStore(backend), secret_key=[NEW_SECRET, OLD_SECRET])
    async with http_client(rotated) as http:
        http.cookies.set("session", old_cookie)
        response = await http.get("/get")
        new_cookie = session_cookie(response)
        assert response.json() == {"a": "1"}
        assert new_cookie is not None
        unsigned = CookieSigner([NEW_SECRET], salt=COOKIE_SALT).unsign(new_cookie)
        assert unsigned is not None
        assert "set-cookie" not in (await http.get("/get")).headers

    # The old cookie's entry is gone: replaying it finds nothing.
    async with http_client(rotated) as http:
        http.cookies.set("session", old_cookie)
        assert (await http.get("/get")).json() == {}


async def test_a_key_removed_from_the_list_invalidates_its_cookies() -> None:
    backend = MemoryBackend()
    async with http_client(make_app(SessionStore(backend), secret_key=OLD_SECRET)) as http:
        old_cookie = session_cookie(await http.get("/set", params={"a": "1"}))
    assert old_cookie is not None

    async with http_client(make_app(SessionStore(backend), secret_key=[NEW_SECRET])) as http:
        http.cookies.set("session", old_cookie)
        assert (await http.get("/get")).json() == {}


async def test_the_newest_key_signs_new_cookies() -> None:
    app = make_app(secret_key=[NEW_SECRET, OLD_SECRET])
    async with http_client(app) as http:
        value = session_cookie(await http.get("/set", params={"a": "1"}))
    assert value is not None
    assert CookieSigner([NEW_SECRET], salt=COOKIE_SALT).unsign(value) is not None
    assert CookieSigner([OLD_SECRET], salt=COOKIE_SALT).unsign(value) is None


async def test_a_cookie_backend_cookie_signed_by_an_older_key_is_reissued() -> None:
    async with http_client(make_app(SessionStore(CookieBackend()), secret_key=OLD_SECRET)) as http:
        old_cookie = session_cookie(await http.get("/set", params={"a": "1"}))
    assert old_cookie is not None

    rotated = make_app(SessionStore(CookieBackend()), secret_key=[NEW_SECRET, OLD_SECRET])
    async with http_client(rotated) as http:
        http.cookies.set("session", old_cookie)
        response = await http.get("/get")
    new_cookie = session_cookie(response)
    assert response.json() == {"a": "1"}
    assert new_cookie is not None
    assert CookieSigner([NEW_SECRET], salt=COOKIE_SALT).unsign(new_cookie) is not None


def test_a_cookie_backend_session_too_large_for_a_cookie_fails_the_request() -> None:
    async def endpoint(request: Request) -> Response:
        (await load_session(request))["big"] = "x" * 4000
        return PlainTextResponse("ok")

    app = make_app_with(endpoint, SessionStore(CookieBackend()))
    with TestClient(app) as client, pytest.raises(SessionTooLargeError, match="4096"):
        client.get("/")
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/")
    assert response.status_code == 500
    assert "set-cookie" not in response.headers


# Clearing


async def test_clearing_deletes_the_entry_and_expires_the_cookie_with_its_path_and_domain() -> None:
    backend = MemoryBackend()
    app = make_app(SessionStore(backend), path="/", domain="testserver.local")
    async with http_client(app, base_url="http://testserver.local") as http:
        await http.get("/set", params={"a": "1"})
        assert len(backend) == 1
        response = await http.get("/clear")
    assert len(backend) == 0
    attributes = cookie_attributes(response)
    assert attributes["max-age"] == "0"
    assert attributes["expires"] == "Thu, 01 Jan 1970 00:00:00 GMT"
    assert (attributes["path"], attributes["domain"]) == ("/", "testserver.local")
    assert "session" not in http.cookies


async def test_clearing_a_session_that_was_never_saved_sends_no_cookie(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/clear")
    assert "set-cookie" not in response.headers


# Other kinds of connection


async def test_a_lifespan_scope_passes_through_untouched() -> None:
    seen: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope)
        await send({"type": "lifespan.startup.complete"})

    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    async def send(message: Message) -> None:
        sent.append(message)

    middleware = SessionMiddleware(app, secret_key=SECRET, store=SessionStore())
    await middleware({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
    assert seen == [{"type": "lifespan", "asgi": {"version": "3.0"}}]
    assert sent == [{"type": "lifespan.startup.complete"}]


async def test_the_session_keeps_nothing_of_the_request_once_the_application_returned() -> None:
    """A server's ``send`` holds the scope (uvicorn's is a bound method of the object holding
    it), and the scope holds the session: kept after the application returned, it would leave a
    reference cycle per request. A message sent after that is refused."""
    kept: list[Send] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        kept.append(send)
        (await load_session(Request(scope)))["a"] = 1
        await PlainTextResponse("ok")(scope, receive, send)

    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {"type": "http", "method": "GET", "path": "/", "headers": []}
    scope["query_string"] = b""
    await SessionMiddleware(app, secret_key=SECRET, store=SessionStore())(scope, receive, send)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert any(name == b"set-cookie" for name, _ in sent[0]["headers"])
    assert send not in gc.get_referents(scope["session"])
    with pytest.raises(RuntimeError, match="after the application returned"):
        await kept[0]({"type": "http.response.body", "body": b"late"})
    assert len(sent) == 2


async def read_session_over_websocket(websocket: WebSocket) -> None:
    session = await load_session(websocket)
    await websocket.accept()
    await websocket.send_json(dict(session))
    session["changed-by-websocket"] = True
    await websocket.close()


def test_a_websocket_endpoint_reads_and_saves_its_session() -> None:
    app = make_app()
    app.router.routes.append(WebSocketRoute("/ws", read_session_over_websocket))
    with TestClient(app) as client:
        client.get("/set", params={"a": "1"})
        with client.websocket_connect("/ws") as websocket:
            assert websocket.receive_json() == {"a": "1"}
        # Saved when the connection ended (tests/test_websocket.py has the rules).
        assert client.get("/get").json() == {"a": "1", "changed-by-websocket": True}


# Errors


@pytest.mark.redis
async def test_a_backend_that_is_down_answers_503(fresh_redis_server: RedisServer) -> None:
    pytest.importorskip("redis")
    import redis.asyncio

    from starlette_session.backends import RedisBackend

    redis_client = redis.asyncio.Redis.from_url(fresh_redis_server.url)
    app = make_app(SessionStore(RedisBackend(redis_client)))
    async with http_client(app) as http:
        await http.get("/set", params={"a": "1"})
        fresh_redis_server.kill()

        for path, cookies in (("/get", True), ("/sync-get", True), ("/set?b=2", False)):
            if not cookies:
                http.cookies.clear()
            response = await http.get(path)
            assert response.status_code == 503, path
            assert "try again" in response.text
            assert response.headers["cache-control"] == "no-store"
            assert "set-cookie" not in response.headers

        # A request that does not use its session does not notice.
        assert (await http.get("/unused")).status_code == 200
    await redis_client.aclose()


async def test_a_session_destroyed_while_a_request_ran_answers_409() -> None:
    loaded, release = asyncio.Event(), asyncio.Event()

    async def slow_change(request: Request) -> Response:
        session = await load_session(request)
        loaded.set()
        await release.wait()
        session["late"] = True
        return PlainTextResponse("changed")

    app = make_app()
    app.router.routes.append(Route("/slow", slow_change))
    async with http_client(app) as http:
        await http.get("/set", params={"a": "1"})
        slow = asyncio.create_task(http.get("/slow"))
        await loaded.wait()
        assert (await http.get("/clear")).status_code == 200
        release.set()
        response = await slow
    assert response.status_code == 409
    assert "set-cookie" not in response.headers


async def test_a_strict_store_answers_409_to_a_concurrent_change() -> None:
    loaded, release = asyncio.Event(), asyncio.Event()

    async def slow_change(request: Request) -> Response:
        session = await load_session(request)
        loaded.set()
        await release.wait()
        session["late"] = True
        return PlainTextResponse("changed")

    app = make_app(SessionStore(strict=True))
    app.router.routes.append(Route("/slow", slow_change))
    async with http_client(app) as http:
        await http.get("/set", params={"a": "1"})
        slow = asyncio.create_task(http.get("/slow"))
        await loaded.wait()
        await http.get("/set", params={"a": "2"})
        release.set()
        response = await slow
        assert response.status_code == 409
        assert (await http.get("/get")).json() == {"a": "2"}


async def test_a_5xx_response_saves_nothing() -> None:
    async def fails(request: Request) -> Response:
        (await load_session(request))["a"] = "lost"
        return JSONResponse({}, status_code=500)

    backend = MemoryBackend()
    async with http_client(make_app_with(fails, SessionStore(backend))) as http:
        response = await http.get("/")
    assert "set-cookie" not in response.headers
    assert len(backend) == 0


async def test_save_on_error_saves_a_5xx_responses_session() -> None:
    async def fails(request: Request) -> Response:
        (await load_session(request))["a"] = "kept"
        return JSONResponse({}, status_code=500)

    backend = MemoryBackend()
    async with http_client(make_app_with(fails, SessionStore(backend, save_on_error=True))) as http:
        response = await http.get("/")
    assert session_cookie(response) is not None
    assert len(backend) == 1


def test_an_exception_in_the_endpoint_saves_nothing() -> None:
    async def raises(request: Request) -> Response:
        (await load_session(request))["a"] = "lost"
        raise RuntimeError("boom")

    backend = MemoryBackend()
    with TestClient(
        make_app_with(raises, SessionStore(backend)), raise_server_exceptions=False
    ) as client:
        response = client.get("/")
    assert response.status_code == 500
    assert "set-cookie" not in response.headers
    assert len(backend) == 0


ADDED_TWICE = "SessionMiddleware is added twice: the inner one serves request.session"


def test_the_middleware_added_twice_warns_naming_it() -> None:
    app = Starlette()
    app.add_middleware(SessionMiddleware, secret_key=SECRET, store=SessionStore())
    app.add_middleware(SessionMiddleware, secret_key=SECRET, store=SessionStore())
    with pytest.warns(UserWarning, match=ADDED_TWICE), TestClient(app):
        pass


def test_a_middleware_wrapping_another_one_directly_warns_at_the_line_doing_it() -> None:
    inner = SessionMiddleware(Starlette(), secret_key=SECRET)
    with pytest.warns(UserWarning, match=ADDED_TWICE) as caught:
        SessionMiddleware(PassThroughMiddleware(inner), secret_key=SECRET)
    assert caught[0].filename == __file__


class PassThroughMiddleware:
    """Another middleware between the two (any ASGI middleware keeping ``self.app``)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def test_one_middleware_among_others_does_not_warn() -> None:
    app = Starlette()
    app.add_middleware(SessionMiddleware, secret_key=SECRET, store=SessionStore())
    app.add_middleware(PassThroughMiddleware)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with TestClient(app):
            pass


def test_the_http_session_is_set_up_as_session_sets_itself_up() -> None:
    """The middleware's per-request session sets Session's attributes inline (a call less per
    request): every one of them, with the values Session's own __init__ gives."""
    from starlette_session.middleware import _HTTPSession
    from starlette_session.session import Session
    from starlette_session.state import StatefulDict

    middleware = SessionMiddleware(Starlette(), secret_key=SECRET, store=SessionStore())
    headers = [(b"cookie", b"session=x")]
    bound = _HTTPSession()
    bound.bind(middleware, {"type": "http", "headers": headers}, _no_send)
    plain = Session(middleware.store, headers=headers)
    for name in (*StatefulDict.__slots__, *Session.__slots__):
        expected = getattr(plain, name)
        if name == "state":
            assert vars(getattr(bound, name)) == vars(expected) == {}
        else:
            assert getattr(bound, name) == expected, name


async def _no_send(message: Message) -> None:
    return None
