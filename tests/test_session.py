"""Session: lazy loading, the dict it is, change tracking, and its lifecycle methods."""

from __future__ import annotations

import base64
import math
import pickle
from collections.abc import Callable
from typing import Any

import anyio.to_thread
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from starlette_session import (
    Session,
    SessionMiddleware,
    SessionMiddlewareMissingError,
    SessionNotLoadedError,
    SessionNotSerializableError,
    SessionStore,
    load_session,
)
from starlette_session.backends import MemoryBackend
from starlette_session.signing import CookieSigner
from tests.helpers import (
    SECRET,
    cookie_attributes,
    http_client,
    live_entries,
    make_app,
    session_cookie,
)

COOKIE_SALT = "starlette-session.cookie"


def app_with(
    endpoint: Callable[[Request], Any], store: SessionStore[Any] | None = None, **options: Any
) -> Starlette:
    """``make_app`` plus ``endpoint`` at ``/endpoint``."""
    app: Starlette = make_app(store, routes=[Route("/endpoint", endpoint)], **options)
    return app


@pytest.fixture
def backend() -> MemoryBackend:
    return MemoryBackend()


@pytest.fixture
async def bound_store(backend: MemoryBackend) -> SessionStore[Any]:
    """A store bound to a middleware, usable without requests."""
    store: SessionStore[Any] = SessionStore(backend)
    SessionMiddleware(make_app(), secret_key=SECRET, store=store)
    return store


async def saved_cookie(store: SessionStore[Any], data: dict[str, Any]) -> str:
    session = await Session(store, None).load()
    session.update(data)
    update = await store.commit(session, 200)
    assert update is not None
    assert update.value is not None
    return update.value


# Lazy loading


UNLOADED_USES: dict[str, Callable[[Session], object]] = {
    "getitem": lambda session: session["a"],
    "get": lambda session: session.get("a"),
    "setitem": lambda session: session.__setitem__("a", 1),
    "contains": lambda session: "a" in session,
    "len": len,
    "iter": list,
    "keys": lambda session: session.keys(),
    "items": lambda session: session.items(),
    "update": lambda session: session.update(a=1),
    "clear": lambda session: session.clear(),
    "pop": lambda session: session.pop("a", None),
    "eq": lambda session: session == {},
    "is_new": lambda session: session.is_new,
    "regenerate": lambda session: session.regenerate(),
    "destroy": lambda session: session.destroy(),
}


@pytest.mark.parametrize("use", UNLOADED_USES.values(), ids=UNLOADED_USES.keys())
async def test_async_code_cannot_use_a_session_before_loading_it(
    bound_store: SessionStore[Any], use: Callable[[Session], object]
) -> None:
    session = Session(bound_store, None)
    with pytest.raises(SessionNotLoadedError, match=r"await load_session\(request\)"):
        use(session)


def test_an_async_endpoint_touching_request_session_before_loading_raises() -> None:
    async def endpoint(request: Request) -> Response:
        return JSONResponse(request.session)

    with (
        TestClient(app_with(endpoint)) as client,
        pytest.raises(SessionNotLoadedError, match="load_session"),
    ):
        client.get("/endpoint")


async def test_load_session_loads_it_for_async_code() -> None:
    async def endpoint(request: Request) -> Response:
        session = await load_session(request)
        assert request.session is session
        session["count"] = session.get("count", 0) + 1
        return JSONResponse(request.session)

    async with http_client(app_with(endpoint)) as client:
        assert (await client.get("/endpoint")).json() == {"count": 1}
        assert (await client.get("/endpoint")).json() == {"count": 2}


async def test_sync_endpoints_load_the_session_on_first_use() -> None:
    async with http_client(make_app()) as client:
        assert (await client.get("/sync-set", params={"a": "1"})).json() == {"a": "1"}
        assert (await client.get("/sync-get")).json() == {"a": "1"}
        assert (await client.get("/get")).json() == {"a": "1"}


async def test_autoload_lets_async_code_use_request_session_directly() -> None:
    async def endpoint(request: Request) -> Response:
        request.session["a"] = "1"
        return JSONResponse(request.session)

    async with http_client(app_with(endpoint, autoload=True)) as client:
        assert (await client.get("/endpoint")).json() == {"a": "1"}
        assert (await client.get("/get")).json() == {"a": "1"}


def test_plain_sync_code_outside_a_worker_thread_cannot_load_a_session() -> None:
    store: SessionStore[Any] = SessionStore()
    SessionMiddleware(make_app(), secret_key=SECRET, store=store)
    with pytest.raises(SessionNotLoadedError):
        Session(store, None).get("a")


async def test_code_in_an_anyio_worker_thread_loads_the_session(
    bound_store: SessionStore[Any],
) -> None:
    cookie = await saved_cookie(bound_store, {"a": 1})
    session = Session(bound_store, cookie)
    assert await anyio.to_thread.run_sync(session.get, "a") == 1
    assert session.loaded


async def test_load_session_without_the_middleware_says_to_add_it() -> None:
    async def endpoint(request: Request) -> Response:
        await load_session(request)
        return PlainTextResponse("unreachable")

    with (
        TestClient(Starlette(routes=[Route("/", endpoint)])) as client,
        pytest.raises(SessionMiddlewareMissingError, match="add_middleware"),
    ):
        client.get("/")


# The dict


async def test_a_loaded_session_is_a_dict(bound_store: SessionStore[Any]) -> None:
    session = await Session(bound_store, None).load()
    session.update({"a": 1}, b=2)
    session["c"] = 3
    session |= {"d": 4}
    assert session == {"a": 1, "b": 2, "c": 3, "d": 4}
    assert isinstance(session, dict)
    assert session | {"e": 5} == {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}
    assert list(reversed(session)) == ["d", "c", "b", "a"]
    assert session.pop("d") == 4
    assert session.setdefault("c", 0) == 3
    assert session.popitem() == ("c", 3)
    del session["b"]
    assert (dict(session), session.copy(), len(session), "a" in session) == (
        {"a": 1},
        {"a": 1},
        1,
        True,
    )
    assert type(session.copy()) is dict
    assert list(session.items()) == [("a", 1)]
    assert list(session.values()) == [1]


async def test_a_session_cannot_be_pickled_or_hashed(bound_store: SessionStore[Any]) -> None:
    session = await Session(bound_store, None).load()
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(session)
    with pytest.raises(TypeError):
        hash(session)


async def test_repr_shows_no_data(bound_store: SessionStore[Any]) -> None:
    session = Session(bound_store, None)
    assert repr(session) == "<Session (not loaded)>"
    await session.load()
    session["password"] = "swordfish"
    assert "swordfish" not in repr(session)


async def test_load_reads_the_backend_once(
    bound_store: SessionStore[Any], backend: MemoryBackend
) -> None:
    cookie = await saved_cookie(bound_store, {"a": 1})
    session = Session(bound_store, cookie)
    assert not session.loaded
    assert await session.load() is session
    await backend.delete(*list(backend._entries))
    assert await session.load() == {"a": 1}


# Change tracking


async def test_nested_changes_are_saved() -> None:
    async def endpoint(request: Request) -> Response:
        session = await load_session(request)
        session.setdefault("cart", [])
        session["cart"].append(len(session["cart"]))
        return JSONResponse(session)

    async with http_client(app_with(endpoint)) as client:
        await client.get("/endpoint")
        await client.get("/endpoint")
        assert (await client.get("/get")).json() == {"cart": [0, 1]}


async def test_changes_in_place_to_a_nested_value_read_with_get_are_saved() -> None:
    async def endpoint(request: Request) -> Response:
        (await load_session(request)).get("prefs")["theme"] = "dark"
        return PlainTextResponse("ok")

    async def seed(request: Request) -> Response:
        (await load_session(request))["prefs"] = {}
        return PlainTextResponse("ok")

    app = app_with(endpoint)
    app.router.routes.append(Route("/seed", seed))
    async with http_client(app) as client:
        await client.get("/seed")
        await client.get("/endpoint")
        assert (await client.get("/get")).json() == {"prefs": {"theme": "dark"}}


async def test_changes_to_values_iterated_with_items_are_saved() -> None:
    async def endpoint(request: Request) -> Response:
        for _, value in (await load_session(request)).items():
            value.append("x")
        return PlainTextResponse("ok")

    async def seed(request: Request) -> Response:
        (await load_session(request))["list"] = []
        return PlainTextResponse("ok")

    app = app_with(endpoint)
    app.router.routes.append(Route("/seed", seed))
    async with http_client(app) as client:
        await client.get("/seed")
        await client.get("/endpoint")
        assert (await client.get("/get")).json() == {"list": ["x"]}


# Values JSON cannot hold


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (object(), "object"),
        ({1, 2}, "set"),
        (b"bytes", "bytes"),
        (math.nan, "float"),
        ([{"x": object()}], "list"),
    ],
    ids=["object", "set", "bytes", "nan", "nested"],
)
async def test_a_value_json_cannot_hold_names_its_key_and_nothing_is_written(
    bound_store: SessionStore[Any], backend: MemoryBackend, value: object, kind: str
) -> None:
    cookie = await saved_cookie(bound_store, {"kept": 1})
    before = [entry[0] for entry in backend._entries.values()]
    session = await Session(bound_store, cookie).load()
    session["kept"] = 2
    session["bad_key"] = value

    with pytest.raises(SessionNotSerializableError, match=f"'bad_key'.*{kind}"):
        await bound_store.commit(session, 200)
    assert [entry[0] for entry in backend._entries.values()] == before


@pytest.mark.parametrize("key", [1, None, True, (1, 2)], ids=["int", "none", "bool", "tuple"])
async def test_a_key_that_is_not_a_string_is_refused(
    bound_store: SessionStore[Any], backend: MemoryBackend, key: object
) -> None:
    # JSON would store 1 as "1", where the next request's session[1] would not find it.
    session = await Session(bound_store, None).load()
    session[key] = "value"  # type: ignore[index]
    with pytest.raises(SessionNotSerializableError, match="keys must be strings"):
        await bound_store.commit(session, 200)
    assert len(backend) == 0


def test_an_endpoint_storing_a_value_json_cannot_hold_raises_and_saves_nothing() -> None:
    async def endpoint(request: Request) -> Response:
        (await load_session(request))["when"] = object()
        return PlainTextResponse("ok")

    backend = MemoryBackend()
    app = app_with(endpoint, SessionStore(backend))
    with TestClient(app) as client, pytest.raises(SessionNotSerializableError, match="'when'"):
        client.get("/endpoint")
    assert len(backend) == 0


# Session ids


async def test_session_ids_are_random_with_at_least_128_bits() -> None:
    payloads = set()
    async with http_client(make_app()) as client:
        for _ in range(50):
            client.cookies.clear()
            value = session_cookie(await client.get("/set", params={"a": "1"}))
            assert value is not None
            unsigned = CookieSigner(SECRET, salt=COOKIE_SALT).unsign(value)
            assert unsigned is not None
            payloads.add(unsigned.payload)
    assert len(payloads) == 50
    for payload in payloads:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        assert len(raw) * 8 >= 128
    # Every character position varies: the ids are not a counter or a timestamp.
    assert all(len({payload[i] for payload in payloads}) > 10 for i in range(22))


async def test_a_signed_id_unknown_to_the_store_is_never_adopted(
    bound_store: SessionStore[Any], backend: MemoryBackend
) -> None:
    chosen = CookieSigner(SECRET, salt=COOKIE_SALT).sign("id-chosen-by-an-attacker")
    session = await Session(bound_store, chosen).load()
    assert session.is_new
    assert session == {}
    session["user"] = "alice"

    update = await bound_store.commit(session, 200)

    assert update is not None
    assert update.value is not None
    unsigned = CookieSigner(SECRET, salt=COOKIE_SALT).unsign(update.value)
    assert unsigned is not None
    assert unsigned.payload != "id-chosen-by-an-attacker"
    assert bound_store.storage_key("id-chosen-by-an-attacker") not in backend._entries


# Lifecycle


async def test_regenerate_keeps_the_data_under_a_new_id_and_drops_the_old_one() -> None:
    async def log_in(request: Request) -> Response:
        session = await load_session(request)
        session.regenerate()
        session["user"] = "alice"
        return PlainTextResponse("ok")

    backend = MemoryBackend()
    async with http_client(app_with(log_in, SessionStore(backend))) as client:
        before = session_cookie(await client.get("/set", params={"cart": "1"}))
        after = session_cookie(await client.get("/endpoint"))
        assert after not in (None, before)
        assert (await client.get("/get")).json() == {"cart": "1", "user": "alice"}
        assert live_entries(backend) == 1
        client.cookies.clear()
        client.cookies.set("session", before or "")
        assert (await client.get("/get")).json() == {}


async def test_destroy_deletes_the_session_and_expires_the_cookie() -> None:
    async def log_out(request: Request) -> Response:
        (await load_session(request)).destroy()
        return PlainTextResponse("ok")

    backend = MemoryBackend()
    async with http_client(app_with(log_out, SessionStore(backend))) as client:
        await client.get("/set", params={"user": "alice"})
        response = await client.get("/endpoint")
        assert cookie_attributes(response)["max-age"] == "0"
        assert len(backend) == 0
        assert (await client.get("/get")).json() == {}


async def test_data_written_after_destroy_starts_a_new_session_without_the_user() -> None:
    async def log_out(request: Request) -> Response:
        session = await load_session(request)
        session.destroy()
        session["flash"] = "you are logged out"
        return PlainTextResponse("ok")

    async def who(request: Request) -> Response:
        session = await load_session(request)
        return JSONResponse({"data": dict(session), "user": session.user_id})

    async def log_in(request: Request) -> Response:
        session = await load_session(request)
        session["user"] = "alice"
        session.set_user("alice")
        return PlainTextResponse("ok")

    backend = MemoryBackend()
    app = app_with(log_out, SessionStore(backend))
    app.router.routes[:0] = [Route("/who", who), Route("/login", log_in)]  # before make_app's
    async with http_client(app) as client:
        await client.get("/login")
        before = client.cookies.get("session")
        response = await client.get("/endpoint")
        after = session_cookie(response)
        assert after is not None
        assert after != before
        assert (await client.get("/who")).json() == {
            "data": {"flash": "you are logged out"},
            "user": None,
        }
        replayed = await client.get("/who", headers={"cookie": f"session={before}"})
        assert replayed.json() == {"data": {}, "user": None}


async def test_set_lifetime_sets_the_cookie_max_age_and_none_makes_a_browser_cookie() -> None:
    async def remember(request: Request) -> Response:
        session = await load_session(request)
        seconds = request.query_params.get("seconds")
        session.set_lifetime(int(seconds) if seconds else None)
        session["user"] = "alice"
        return PlainTextResponse("ok")

    async with http_client(app_with(remember)) as client:
        response = await client.get("/endpoint", params={"seconds": "3600"})
        assert cookie_attributes(response)["max-age"] == "3600"
        client.cookies.clear()
        response = await client.get("/endpoint")
        assert "max-age" not in cookie_attributes(response)


def test_set_lifetime_refuses_a_non_positive_lifetime() -> None:
    session = Session(SessionStore(), None)
    with pytest.raises(ValueError, match="lifetime must be at least one second"):
        session.set_lifetime(0)


async def test_is_new_and_created_at(bound_store: SessionStore[Any]) -> None:
    session = await Session(bound_store, None).load()
    assert (session.is_new, session.created_at) == (True, None)
    cookie = await saved_cookie(bound_store, {"a": 1})
    session = await Session(bound_store, cookie).load()
    assert session.is_new is False
    assert isinstance(session.created_at, int)


async def test_user_id_is_kept_apart_from_the_data(bound_store: SessionStore[Any]) -> None:
    session = await Session(bound_store, None).load()
    session["a"] = 1
    session.set_user("alice")
    update = await bound_store.commit(session, 200)
    assert update is not None
    loaded = await Session(bound_store, update.value).load()
    assert loaded.user_id == "alice"
    assert loaded == {"a": 1}
