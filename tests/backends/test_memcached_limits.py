"""memcached's limits are configuration errors and oversized sessions, never an outage.

Keys: memcached accepts at most 250 bytes, and the longest key the store makes is a user's
session index (``<prefix>user:<64 hex digits>``): a ``key_prefix`` over 181 characters is refused
when the middleware is built. Values: a session over the item size (``memcached -I``, 1 MiB by
default) raises :class:`SessionTooLargeError`, whether the backend's ``max_item_size`` or the
server itself refuses it, on both memcached backends, over HTTP.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from starlette_session import (
    SessionBackendError,
    SessionMiddleware,
    SessionSettingsError,
    SessionStore,
    SessionTooLargeError,
    load_session,
)
from starlette_session.backends import SessionBackend
from tests.backends.conftest import BackendCase
from tests.helpers import SECRET, make_app, session_cookie

MEMCACHED = [
    pytest.param("memcached_case", id="aiomcache"),
    pytest.param("pymemcache_pooled_case", id="pymemcache-pooled"),
    pytest.param("pymemcache_single_case", id="pymemcache-single"),
]
pytestmark = pytest.mark.memcached
#: 250 bytes, less ``user:`` and the 64 hex digits of the index key's hash.
LONGEST_PREFIX = 250 - len("user:") - 64


@pytest.fixture(params=MEMCACHED)
def memcached_backend(request: pytest.FixtureRequest) -> SessionBackend:
    case: BackendCase = request.getfixturevalue(request.param)
    return case.backend


def client(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


# Keys


@pytest.mark.parametrize("length", [LONGEST_PREFIX + 1, 184, 187, 300])
def test_a_key_prefix_too_long_for_memcached_keys_is_refused_at_start_up(
    memcached_backend: SessionBackend, length: int
) -> None:
    store: SessionStore[Any] = SessionStore(memcached_backend, key_prefix="p" * length)
    message = f"key_prefix of at most {LONGEST_PREFIX} characters"
    with pytest.raises(SessionSettingsError, match=message):
        SessionMiddleware(make_app(SessionStore()), secret_key=SECRET, store=store)


async def test_the_longest_key_prefix_memcached_accepts_serves_log_ins_and_revocations(
    memcached_backend: SessionBackend,
) -> None:
    store: SessionStore[Any] = SessionStore(memcached_backend, key_prefix="p" * LONGEST_PREFIX)
    async with client(make_app(store)) as http:
        assert (await http.get("/set", params={"cart": "apple"})).status_code == 200
        assert (await http.get("/login", params={"user": "alice"})).status_code == 200
        assert (await http.get("/get")).json() == {"cart": "apple", "user": "alice"}
        assert len(await store.user_sessions("alice")) == 1
        assert await store.revoke_user_sessions("alice") == 1
        assert (await http.get("/get")).json() == {}


# Values


async def write_blob(request: Request) -> Response:
    session = await load_session(request)
    session["blob"] = "x" * int(request.query_params["size"])
    return JSONResponse({"size": len(session["blob"])})


def blob_app(backend: SessionBackend) -> Starlette:
    app = make_app(SessionStore(backend, max_size=None))  # only memcached's limit applies
    app.router.routes.append(Route("/blob", write_blob))
    return app


MEGABYTE = 1024 * 1024


@pytest.mark.parametrize("server_refuses", [False, True], ids=["backend-limit", "server-limit"])
async def test_a_session_over_memcacheds_item_size_is_too_large_not_an_outage(
    memcached_backend: Any, server_refuses: bool
) -> None:
    if server_refuses:
        # The backend believes the server takes 4 MiB; the server (-I 1m) refuses the value.
        memcached_backend.max_item_size = 4 * MEGABYTE
    async with client(blob_app(memcached_backend)) as http:
        assert (await http.get("/set", params={"cart": "apple"})).status_code == 200
        with pytest.raises(SessionTooLargeError, match="item size limit") as raised:
            await http.get("/blob", params={"size": int(1.1 * MEGABYTE)})
        assert not isinstance(raised.value, SessionBackendError)
        assert "reachable" not in str(raised.value)
        # Nothing was written, and the connection still serves the session.
        assert (await http.get("/get")).json() == {"cart": "apple"}


@pytest.mark.parametrize("server_refuses", [False, True], ids=["backend-limit", "server-limit"])
async def test_a_new_session_over_memcacheds_item_size_stores_nothing(
    memcached_backend: Any, server_refuses: bool
) -> None:
    if server_refuses:
        memcached_backend.max_item_size = 4 * MEGABYTE
    async with client(blob_app(memcached_backend)) as http:
        with pytest.raises(SessionTooLargeError, match="item size limit"):
            await http.get("/blob", params={"size": int(1.1 * MEGABYTE)})
        assert (await http.get("/get")).json() == {}


async def test_a_session_under_the_item_size_is_stored(memcached_backend: SessionBackend) -> None:
    async with client(blob_app(memcached_backend)) as http:
        response = await http.get("/blob", params={"size": 900 * 1024})
        assert response.status_code == 200
        assert session_cookie(response) is not None
        assert len((await http.get("/get")).json()["blob"]) == 900 * 1024
