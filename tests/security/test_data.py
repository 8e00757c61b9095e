"""Requirements 18-21: no code-executing deserializer, bad stored data, the size cap, metadata
kept apart, and no ids or secrets in logs, errors or reprs."""

from __future__ import annotations

import ast
import asyncio
import json
import logging
import marshal
import math
import pickle
import secrets
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import starlette_session
from starlette_session import (
    Session,
    SessionStore,
    SessionTooLargeError,
    load_session,
)
from starlette_session.backends import (
    CookieBackend,
    LegacyBackend,
    MemoryBackend,
    SessionBackend,
)
from starlette_session.interfaces import ISessionBackend
from starlette_session.middleware import SessionMiddleware
from starlette_session.records import RETIRED
from tests.helpers import RedisClients
from tests.security.conftest import (
    SECURITY_LOGGER,
    Client,
    Real,
    build_app,
    session_id,
)

# 18. No pickle; bad stored data gives a fresh session.

_IMPORT_SYSTEM = ("importlib._bootstrap_external", "_frozen_importlib_external")


@pytest.fixture
def forbid_code_executing_deserializers(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every pickle and marshal entry point fails the test when called (the import system may
    still read its .pyc files with marshal)."""
    calls: list[str] = []

    def guard(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def refuse(*args: Any, **kwargs: Any) -> Any:
            caller = sys._getframe(1).f_globals.get("__name__", "?")
            if name == "marshal.loads" and caller in _IMPORT_SYSTEM:
                return real(*args, **kwargs)
            calls.append(f"{name} called from {caller}")
            pytest.fail(f"{name} called from {caller}")

        return refuse

    monkeypatch.setattr(pickle, "loads", guard("pickle.loads", pickle.loads))
    monkeypatch.setattr(pickle, "load", guard("pickle.load", pickle.load))
    monkeypatch.setattr(pickle, "Unpickler", guard("pickle.Unpickler", pickle.Unpickler))
    monkeypatch.setattr(marshal, "loads", guard("marshal.loads", marshal.loads))
    monkeypatch.setattr(marshal, "load", guard("marshal.load", marshal.load))
    yield calls
    assert calls == []


class DictBackend(ISessionBackend):
    """A complete backend of the original interface, in a dict (JSON objects in and out)."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[dict[str, Any], float]] = {}

    async def get(self, key: str) -> dict[str, Any] | None:
        entry = self.entries.get(key)
        return entry[0] if entry is not None and entry[1] > time.monotonic() else None

    async def set(self, key: str, value: dict[str, Any], exp: int | None) -> None:
        self.entries[key] = (value, time.monotonic() + exp if exp is not None else math.inf)

    async def delete(self, key: str) -> None:
        self.entries.pop(key, None)


ALL_BACKENDS = [
    pytest.param("memory", id="memory"),
    pytest.param("redis", id="redis", marks=pytest.mark.redis),
    pytest.param("valkey", id="valkey", marks=pytest.mark.valkey),
    pytest.param("memcached", id="memcached", marks=pytest.mark.memcached),
    pytest.param("legacy", id="legacy"),
    pytest.param("cookie", id="cookie"),
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    pytest.param("mysql", id="mysql", marks=pytest.mark.mysql),
]


@pytest.fixture(params=ALL_BACKENDS)
async def any_backend(
    request: pytest.FixtureRequest, redis_clients: RedisClients
) -> AsyncIterator[SessionBackend | CookieBackend]:
    kind = request.param
    if kind == "memory":
        yield MemoryBackend()
    elif kind == "legacy":
        yield LegacyBackend(DictBackend())
    elif kind == "cookie":
        yield CookieBackend()
    elif kind in ("sqlite", "postgres", "mysql"):
        pytest.importorskip("sqlalchemy")
        from tests.sql_support import database_url, sql_backend, sqlite_url

        if kind == "sqlite":
            url = sqlite_url(request.getfixturevalue("tmp_path") / "sessions.db")
        else:
            url = database_url(kind)
        async with sql_backend(url) as backend:
            yield backend
    elif kind in ("redis", "valkey"):
        from starlette_session.backends.redis import RedisBackend

        yield RedisBackend(redis_clients.asyncio(request.getfixturevalue(f"{kind}_url")))
    else:
        import aiomcache

        from starlette_session.backends import MemcachedBackend

        address: tuple[str, int] = request.getfixturevalue("memcached_address")
        mc = aiomcache.Client(*address)
        try:
            yield MemcachedBackend(mc)
        finally:
            await mc.close()


class Profile(BaseModel):
    name: str = "anonymous"
    visits: int = 0
    tags: list[str] = []


async def _typed(request: Request) -> Response:
    session = await load_session(request)
    profile = session.model(Profile)
    profile.visits += 1
    return JSONResponse(profile.model_dump())


async def test_no_pickle_or_marshal_in_any_flow_on_any_backend(
    any_backend: SessionBackend | CookieBackend,
    forbid_code_executing_deserializers: list[str],
) -> None:
    server_side = not isinstance(any_backend, CookieBackend)
    loaded, written = asyncio.Event(), asyncio.Event()

    async def slow_write(request: Request) -> Response:
        session = await load_session(request)
        loaded.set()
        await written.wait()
        session["from-slow"] = True
        return JSONResponse(dict(session))

    store: SessionStore[Any] = SessionStore(any_backend, max_size=64 * 1024)
    app = build_app(
        store, routes=[Route("/typed", _typed), Route("/slow", slow_write, methods=["POST"])]
    )
    client = Client(app)
    assert (await client.get()).json()["new"] is True
    await client.post("/write", {"nested": {"list": [1, 2.5, None, True, {"x": "é"}]}})
    assert (await client.get()).json()["data"]["nested"]["list"][4] == {"x": "é"}
    await client.post("/login", {"user": "alice"})
    assert (await client.get("/typed")).json()["visits"] == 1
    assert (await client.get("/typed")).json()["visits"] == 2
    await client.post("/remember", {"seconds": 3600})
    await client.post("/regenerate")
    if server_side:
        # Two requests change the session at once: the merge reads the other's stored bytes.
        async def write_meanwhile() -> None:
            await loaded.wait()
            await Client(app, client.cookie).post("/write", {"from-fast": True})
            written.set()

        await asyncio.gather(Client(app, client.cookie).post("/slow"), write_meanwhile())
        data = (await client.get()).json()["data"]
        assert data["from-slow"] is True
        assert data["from-fast"] is True
        assert len((await client.get("/my-sessions")).json()["keys"]) == 1
        await client.post("/change-password")
        # Stored bytes that happen to be a pickle are never unpickled.
        assert client.cookie is not None
        key = store.storage_key(session_id(client.cookie))
        await store.backend.delete(key)  # type: ignore[union-attr]
        if isinstance(any_backend, LegacyBackend):
            await any_backend.backend.set(key, {"not": "a record"}, 60)
        else:
            assert await store.backend.create(key, pickle.dumps({"m": {}, "d": {}}), 60)  # type: ignore[union-attr]
        assert (await client.get()).json()["data"] == {}
        await client.post("/login", {"user": "alice"})
    await client.post("/logout")
    assert (await client.get()).json()["new"] is True


def test_the_package_imports_no_code_executing_deserializer() -> None:
    forbidden = {"pickle", "_pickle", "cPickle", "marshal", "shelve", "dill", "cloudpickle"}
    forbidden |= {"jsonpickle", "yaml"}
    package = Path(starlette_session.__file__).parent
    for path in package.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                names = {(node.module or "").split(".")[0]}
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in ("eval", "exec"), f"{path}:{node.lineno}"
                continue
            else:
                continue
            assert not names & forbidden, f"{path}:{node.lineno} imports {names & forbidden}"


_DEPTH = 100_000
_NOW = str(int(time.time())).encode()
BAD_RECORDS: dict[str, bytes] = {
    "a-pickle": pickle.dumps({"m": {"u": "admin"}, "d": {"user": "admin"}}),
    "not-json": b"definitely not json",
    "not-utf8": b"\xff\xfe\x00\x81garbage",
    "empty": b"",
    "null": b"null",
    "a-list": b"[1, 2, 3]",
    "a-string": b'"session"',
    "no-metadata": b'{"d": {"user": "admin"}}',
    "no-data": b'{"m": {}}',
    "data-not-an-object": b'{"m": {}, "d": ["user", "admin"]}',
    "metadata-not-an-object": b'{"m": "admin", "d": {}}',
    "deeply-nested": b'{"m":{},"d":{"x":' + b"[" * _DEPTH + b"]" * _DEPTH + b"}}",
    "deeply-nested-objects": b'{"m":{},"d":' + b'{"a":' * _DEPTH + b"1" + b"}" * _DEPTH + b"}",
    "nan": b'{"m": {"c": ' + _NOW + b'}, "d": {"a": NaN}}',
    "infinity": b'{"m": {"c": ' + _NOW + b'}, "d": {"a": 1e400}}',
    "lifetime-a-string": b'{"m": {"c": ' + _NOW + b', "l": "forever"}, "d": {"a": 1}}',
    "lifetime-negative": b'{"m": {"c": ' + _NOW + b', "l": -5}, "d": {"a": 1}}',
    "lifetime-a-bool": b'{"m": {"c": ' + _NOW + b', "l": true}, "d": {"a": 1}}',
    "created-a-string": b'{"m": {"c": "yesterday"}, "d": {"a": 1}}',
    "created-a-float": b'{"m": {"c": 1.5e300}, "d": {"a": 1}}',
    "user-a-list": b'{"m": {"c": ' + _NOW + b', "u": ["admin"]}, "d": {"a": 1}}',
    "unknown-version": b'{"m": {"c": ' + _NOW + b', "v": 999}, "d": {"a": 1}}',
}


@pytest.mark.parametrize("raw", BAD_RECORDS.values(), ids=BAD_RECORDS.keys())
@pytest.mark.parametrize("path", ["/read", "/write", "/login"])
async def test_bad_stored_data_gives_a_fresh_session_and_one_security_log_line(
    real: Real, raw: bytes, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = build_app(SessionStore(real.counting, absolute_timeout=30 * 24 * 3600))
    sid = secrets.token_urlsafe(32)
    key = app.store.storage_key(sid)
    await real.put(key, raw)

    with caplog.at_level(logging.DEBUG):
        client = Client(app, app.signer.sign(sid))
        if path == "/read":
            reply = await client.get()
        else:
            reply = await client.post(path, {"user": "bob", "fresh": 1})

    assert reply.status == 200
    state = reply.json()
    assert state["user"] != "admin"
    assert "a" not in state["data"]
    assert state["created"] is None or state["created"] > 1_000_000_000
    security = [r for r in caplog.records if r.name == SECURITY_LOGGER]
    assert len(security) == 1, [r.getMessage() for r in caplog.records]
    assert sid not in security[0].getMessage()
    # The bad entry is gone (retired, for a write that moved to a new id); a write went to a new id.
    assert await real.raw(key) in (None, RETIRED)
    if path != "/read":
        assert client.cookie is not None
        assert session_id(client.cookie) != sid


@pytest.mark.parametrize("depth", [500, 900, 950, 990, 1200])
async def test_nesting_around_the_recursion_limit_never_fails_a_request(
    real: Real, depth: int
) -> None:
    app = build_app(SessionStore(real.counting, max_size=None))
    sid = secrets.token_urlsafe(32)
    nested = b"[" * depth + b"]" * depth
    record = b'{"m":{"c":' + _NOW + b'},"d":{"x":' + nested + b"}}"
    await real.put(app.store.storage_key(sid), record)
    for path in ("/read", "/write"):
        client = Client(app, app.signer.sign(sid))
        reply = await (client.get() if path == "/read" else client.post(path, {"y": 1}))
        assert reply.status == 200


STALE: dict[str, dict[str, Any]] = {
    "wrong-types": {"name": ["not", "a", "string"], "visits": "many"},
    "renamed-field": {"name": "alice", "visits": 3, "tags": "one,two"},
}


@pytest.mark.parametrize("data", STALE.values(), ids=STALE.keys())
async def test_stale_schema_gives_a_fresh_typed_session(
    real: Real, data: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    app = build_app(SessionStore(real.counting), routes=[Route("/typed", _typed)])
    sid = secrets.token_urlsafe(32)
    raw = json.dumps({"m": {"c": int(time.time())}, "d": data}).encode()
    await real.put(app.store.storage_key(sid), raw)
    with caplog.at_level(logging.DEBUG):
        reply = await Client(app, app.signer.sign(sid)).get("/typed")
    assert reply.status == 200
    assert reply.json() == {"name": "anonymous", "visits": 1, "tags": []}
    assert len([r for r in caplog.records if r.name == SECURITY_LOGGER]) == 1


# 19. A cap on the serialized size.


async def test_a_write_over_the_cap_raises_and_leaves_the_stored_session_unchanged(
    real: Real,
) -> None:
    app = build_app(SessionStore(real.counting, max_size=1024))
    client = Client(app)
    await client.post("/write", {"cart": ["apple"]})
    assert client.cookie is not None
    key = app.store.storage_key(session_id(client.cookie))
    before = await real.raw(key)
    assert before is not None

    with pytest.raises(SessionTooLargeError, match="over the limit of 1024"):
        await client.post("/write", {"blob": "x" * 2000})

    assert await real.raw(key) == before
    assert (await client.get()).json()["data"] == {"cart": ["apple"]}
    assert await real.session_keys() == [key]


async def test_a_new_session_over_the_cap_stores_nothing(real: Real) -> None:
    app = build_app(SessionStore(real.counting, max_size=512))
    with pytest.raises(SessionTooLargeError):
        await Client(app).post("/write", {"blob": "é" * 300})  # 600 bytes in UTF-8
    assert await real.keys() == []


async def test_the_memory_backend_is_bounded_in_bytes_by_default() -> None:
    backend = MemoryBackend()
    assert backend.max_bytes is not None
    assert backend.max_bytes <= 256 * 1024 * 1024
    blob = b"x" * 60 * 1024
    for index in range(2000):  # 120 MB of 60 KiB sessions
        await backend.create(f"session:{index}", blob, 3600)
    assert backend.size <= backend.max_bytes


# 20. Library metadata is kept apart from the user's data.


async def test_user_keys_cannot_shadow_or_forge_the_metadata(real: Real) -> None:
    app = build_app(SessionStore(real.counting))
    client = Client(app)
    await client.post("/login", {"user": "alice"})
    state = (await client.get()).json()
    created = state["created"]
    forged = {
        "m": {"u": "bob", "c": 0, "v": 99},
        "d": {"user": "bob"},
        "u": "bob",
        "c": 0,
        "l": 10**9,
        "v": 99,
        "user_id": "bob",
        "_user": "bob",
        "created_at": 0,
    }
    reply = await client.post("/write", forged)
    assert reply.session_cookie() is None  # a data change: no new lifetime, no new cookie
    state = (await client.get()).json()
    assert state["user"] == "alice"
    assert state["created"] == created
    assert {key: state["data"][key] for key in forged} == forged  # kept verbatim, as data
    assert await app.store.user_sessions("bob") == []
    assert len(await app.store.user_sessions("alice")) == 1

    assert client.cookie is not None
    stored = json.loads(await real.raw(app.store.storage_key(session_id(client.cookie))) or b"")
    assert set(stored) == {"m", "d"}
    assert stored["m"]["u"] == "alice"
    assert stored["m"]["c"] == created
    assert stored["m"]["v"] == 1  # the record format's version
    assert stored["d"]["m"] == forged["m"]


# 21. No ids or secrets in logs, error messages or reprs; security events logged once each.


async def test_ids_and_secrets_never_appear_in_logs_errors_or_reprs(
    real: Real, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[Session] = []

    async def capture(request: Request) -> Response:
        session = await load_session(request)
        seen.append(session)
        return JSONResponse(dict(session))

    secret = "do-not-leak-this-secret-" + secrets.token_urlsafe(16)
    old_secret = "old-secret-do-not-leak-" + secrets.token_urlsafe(16)
    store: SessionStore[Any] = SessionStore(real.counting, max_size=2048)
    app = build_app(store, secret_key=[secret, old_secret], routes=[Route("/capture", capture)])
    texts: list[str] = []

    with caplog.at_level(logging.DEBUG):
        client = Client(app)
        await client.post("/login", {"user": "alice"})
        cookie = client.cookie
        assert cookie is not None
        await client.get("/capture")
        # Tampering, corrupt data, a too large session, a conflict with a log-out.
        await Client(app, cookie[:-2] + "AA").get()
        await Client(app, session_id(cookie)).get()
        await real.put(store.storage_key("planted-id-0123456789"), b"\x80corrupt")
        await Client(app, app.signer.sign("planted-id-0123456789")).get()
        try:
            await client.post("/write", {"blob": "x" * 4096})
        except SessionTooLargeError as error:
            texts.append(str(error))
        else:
            pytest.fail("no SessionTooLargeError")
        update = await store.commit(await _changed_session(store, cookie), 200)
        assert update is not None
        assert update.value is not None
        texts.append(repr(update))
        texts.append(repr(app.signer.unsign(cookie)))
        texts.append(repr(app.signer.unsign(update.value)))
        await client.post("/logout")

    texts += [r.getMessage() for r in caplog.records]
    texts += [r.exc_text or "" for r in caplog.records]
    texts += [repr(seen[0]), str(seen[0]), repr(store), repr(app.signer), repr(app)]
    texts += [repr(app.cookie), repr(real.counting.inner), repr(store.backend)]
    needles = [cookie, session_id(cookie), update.value, session_id(update.value)]
    needles += [secret, old_secret, "planted-id-0123456789"]
    for text in texts:
        for needle in needles:
            assert needle not in text, f"{needle!r} leaked in {text!r}"


async def _changed_session(store: SessionStore[Any], cookie: str) -> Session:
    session = await Session(store, cookie).load()
    session.regenerate()
    return session


@pytest.mark.parametrize(
    "make_cookie",
    [
        lambda app, cookie: cookie[:-2] + "AA",  # a bad signature
        lambda app, cookie: session_id(cookie),  # no signature
        lambda app, cookie: "%%%-malformed-%%%",
        lambda app, cookie: cookie + "x" * 5000,
    ],
    ids=["bad-signature", "unsigned", "malformed", "oversized"],
)
async def test_a_tampered_cookie_is_logged_once_on_the_security_logger(
    real: Real,
    make_cookie: Callable[[SessionMiddleware, str], str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = build_app(SessionStore(real.counting))
    client = Client(app)
    await client.post("/write", {"a": 1})
    assert client.cookie is not None
    bad = make_cookie(app, client.cookie)
    with caplog.at_level(logging.DEBUG):
        reply = await Client(app, bad).post("/write", {"b": 2})
        assert reply.status == 200
        await client.get()  # a valid cookie logs nothing
        await Client(app).get()  # nor does no cookie
    security = [r for r in caplog.records if r.name == SECURITY_LOGGER]
    assert len(security) == 1
    assert security[0].levelno == logging.WARNING
    assert bad not in security[0].getMessage()


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_security_events_reach_the_library_logger_and_can_be_routed_alone() -> None:
    """What SECURITY.md's "Logging" promises a user: one handler on ``starlette_session`` (one
    line of logging configuration) receives the security events, and one on
    ``starlette_session.security`` receives them and nothing else. The events are real ones: a
    tampered cookie, undecodable stored data, and a request answered 409 (a library warning,
    not a security event). The memory backend is enough: logging does not depend on it."""
    backend = MemoryBackend()
    store: SessionStore[Any] = SessionStore(backend)

    async def logged_out_meanwhile(request: Request) -> Response:
        session = await load_session(request)
        # Another tab logs out meanwhile: the entry this request loaded is gone.
        await backend.delete(store.storage_key(session_id(request.cookies["session"])))
        session["late"] = True
        return JSONResponse({})

    app = build_app(store, routes=[Route("/late", logged_out_meanwhile, methods=["POST"])])
    library, security = _Collect(), _Collect()
    library_logger = logging.getLogger("starlette_session")
    security_logger = logging.getLogger(SECURITY_LOGGER)
    level = library_logger.level
    library_logger.setLevel(logging.WARNING)  # what a user's configuration does
    library_logger.addHandler(library)
    security_logger.addHandler(security)
    try:
        client = Client(app)
        await client.post("/write", {"a": 1})
        assert client.cookie is not None
        await Client(app, client.cookie[:-2] + "AA").get()  # tampered
        planted = secrets.token_urlsafe(32)
        assert await backend.create(store.storage_key(planted), b"\x80corrupt", 60)
        await Client(app, app.signer.sign(planted)).get()  # undecodable stored data
        assert (await client.post("/late", {})).status == 409
    finally:
        library_logger.removeHandler(library)
        security_logger.removeHandler(security)
        library_logger.setLevel(level)

    names = [record.name for record in library.records]
    assert names == [SECURITY_LOGGER, SECURITY_LOGGER, "starlette_session"], names
    assert security.records == library.records[:2]
    assert all(record.levelno == logging.WARNING for record in library.records)
    assert "409" in library.records[2].getMessage()
