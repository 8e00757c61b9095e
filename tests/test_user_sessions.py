"""A user's sessions: ``user_sessions(user, current=session)`` and ``revoke_session(user, key)``,
which ends only a session the user's index lists and that still belongs to the user."""

from __future__ import annotations

import weakref
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from starlette_session import Session, SessionDestroyedError, SessionStore, load_session
from starlette_session.backends import SessionBackend
from starlette_session.records import RETIRED
from tests.helpers import make_app
from tests.test_events import BASE, key_of


async def list_mine(request: Request) -> Response:
    session = await load_session(request)
    store: SessionStore[Any] = request.app.state.store
    sessions = await store.user_sessions(session["user"], current=session)
    return JSONResponse([[info.key, info.current] for info in sessions])


_apps: weakref.WeakKeyDictionary[SessionStore[Any], Any] = weakref.WeakKeyDictionary()


async def logged_in(store: SessionStore[Any], user: str) -> tuple[httpx.AsyncClient, str]:
    """A new device (its own cookie jar) of ``user``, logged in; and its session's key. The
    devices of one store share its one app (a store serves one middleware)."""
    if store not in _apps:
        _apps[store] = app = make_app(store)
        app.router.routes.append(Route("/mine", list_mine))
    http = httpx.AsyncClient(transport=httpx.ASGITransport(_apps[store]), base_url=BASE)
    await http.get("/login", params={"user": user})
    return http, key_of(store, http.cookies["session"])


async def test_the_current_session_is_marked(backend: SessionBackend) -> None:
    store: SessionStore[Any] = SessionStore(backend)
    laptop, laptop_key = await logged_in(store, "alice")
    phone, phone_key = await logged_in(store, "alice")
    mine = dict((await phone.get("/mine")).json())
    assert mine == {laptop_key: False, phone_key: True}
    assert [info.current for info in await store.user_sessions("alice")] == [False, False]
    await laptop.aclose()
    await phone.aclose()


async def test_revoke_session_ends_one_device(backend: SessionBackend) -> None:
    store: SessionStore[Any] = SessionStore(backend)
    laptop, laptop_key = await logged_in(store, "alice")
    phone, phone_key = await logged_in(store, "alice")

    assert await store.revoke_session("alice", phone_key)

    assert (await phone.get("/get")).json() == {}  # the phone is signed out
    assert (await laptop.get("/get")).json() == {"user": "alice"}
    assert [info.key for info in await store.user_sessions("alice")] == [laptop_key]
    assert phone_key not in await store.storage.user_index().sessions("alice")
    assert not await store.revoke_session("alice", phone_key)  # already ended
    await laptop.aclose()
    await phone.aclose()


async def test_revoke_session_never_ends_someone_elses_session(backend: SessionBackend) -> None:
    store: SessionStore[Any] = SessionStore(backend)
    alice, _ = await logged_in(store, "alice")
    bob, bob_key = await logged_in(store, "bob")

    assert not await store.revoke_session("alice", bob_key)  # not in alice's index
    assert not await store.revoke_session("alice", "session:not-a-key")
    # Even listed under alice (an index entry left behind), bob's session is not hers.
    users = store.storage.user_index()
    assert users is not None
    await users.add("alice", bob_key, 3600, seen=None)
    assert not await store.revoke_session("alice", bob_key)

    assert (await bob.get("/get")).json() == {"user": "bob"}
    await alice.aclose()
    await bob.aclose()


async def test_revoking_a_session_that_a_log_in_is_moving_is_final(
    backend: SessionBackend,
) -> None:
    store: SessionStore[Any] = SessionStore(backend)
    http, key = await logged_in(store, "alice")
    moving = await Session(store, http.cookies["session"]).load()
    moving.regenerate()  # a second log-in on this device, not committed yet

    assert await store.revoke_session("alice", key)

    with pytest.raises(SessionDestroyedError):
        await store.commit(moving, 200)
    assert await store.user_sessions("alice") == []
    assert await backend.read(key) in (None, RETIRED)
    await http.aclose()
