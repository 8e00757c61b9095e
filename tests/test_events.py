"""Session events: every event with its key, user and reason, after the fact, on the memory
backend and a real redis-server; failing handlers; and no cost at all without a handler."""

from __future__ import annotations

import gc
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import pytest
import redis.asyncio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import starlette_session.events
from starlette_session import (
    Session,
    SessionConflictError,
    SessionDestroyedError,
    SessionEvent,
    SessionEventInfo,
    SessionMiddleware,
    SessionStore,
)
from starlette_session.backends import MemoryBackend, RedisBackend, SessionBackend
from starlette_session.events import Operation
from starlette_session.records import RETIRED, encode_record
from starlette_session.session import load_session
from tests.helpers import SECRET, make_app
from tests.servers import RedisServer

BASE = "http://testserver"


class Recorder:
    """Records every event of a store, as handlers see them."""

    def __init__(self, store: SessionStore[Any]) -> None:
        self.seen: list[SessionEventInfo] = []
        for event in SessionEvent:
            store.on(event, self.seen.append)

    def take(self) -> list[tuple[str, str | None, str | None]]:
        """The events since the last call, as (event, user, reason)."""
        taken = [(info.event.value, info.user, info.reason) for info in self.seen]
        self.seen.clear()
        return taken


def key_of(store: SessionStore[Any], cookie: str) -> str:
    unsigned = store.signer.unsign(cookie)
    assert unsigned is not None
    return store.storage_key(unsigned.payload, unsigned.key_index)


async def test_every_event_tells_the_key_the_user_and_the_reason(backend: SessionBackend) -> None:
    store: SessionStore[Any] = SessionStore(backend, absolute_timeout=3600)
    events = Recorder(store)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(make_app(store)), base_url=BASE
    ) as http:
        await http.get("/get")  # a new visitor who stores nothing
        assert events.take() == []

        await http.get("/set", params={"a": "1"})
        first = http.cookies["session"]
        assert events.take() == [("created", None, None)]
        assert events.seen == []

        await http.get("/get")
        await http.get("/set", params={"a": "2"})
        assert events.take() == [
            ("loaded", None, None),
            ("loaded", None, None),
            ("saved", None, None),
        ]

        await http.get("/login", params={"user": "alice"})
        assert events.take() == [("loaded", None, None), ("rotated", "alice", "regenerate")]

        await http.get("/logout")
        assert events.take() == [("loaded", "alice", None), ("destroyed", "alice", "destroy")]

        await http.get("/set", params={"a": "1"})
        emptied = http.cookies["session"]
        await http.get("/clear")
        assert events.take() == [
            ("created", None, None),
            ("loaded", None, None),
            ("destroyed", None, "emptied"),
        ]

        http.cookies.set("session", emptied)  # the session of this cookie ended
        await http.get("/get")
        assert events.take() == [("expired", None, "gone")]

        http.cookies.set("session", first[:-2] + "AA")  # a forged signature
        await http.get("/get")
        assert events.take() == [("tampered", None, "signature")]

        # A session past its absolute timeout (its creation time written an hour ago).
        old = encode_record({"a": "1"}, {"c": int(time.time()) - 3601, "u": "bob", "v": 1}, None)
        await backend.create(store.storage_key("an-old-session-id"), old, 60)
        http.cookies.set("session", store.signer.sign("an-old-session-id"))
        await http.get("/get")
        assert events.take() == [("expired", "bob", "absolute")]


async def test_the_key_given_is_the_store_key_never_the_id_or_cookie(
    backend: SessionBackend,
) -> None:
    store: SessionStore[Any] = SessionStore(backend)
    events = Recorder(store)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(make_app(store)), base_url=BASE
    ) as http:
        await http.get("/set", params={"a": "1"})
        before = http.cookies["session"]
        await http.get("/login", params={"user": "alice"})
        after = http.cookies["session"]
        await http.get("/logout")
    created, _, rotated, _, destroyed = events.seen
    assert created.key == key_of(store, before)
    assert rotated.key == destroyed.key == key_of(store, after)
    for info in events.seen:
        for cookie in (before, after):
            assert cookie.split(".")[0] not in repr(info)
            assert cookie not in repr(info)


async def test_handlers_run_after_the_fact(backend: SessionBackend) -> None:
    store: SessionStore[Any] = SessionStore(backend)
    found: dict[str, Any] = {}

    async def on_created(info: SessionEventInfo) -> None:
        assert info.key is not None
        found["created"] = await backend.read(info.key)

    async def on_rotated(info: SessionEventInfo) -> None:
        assert info.key is not None
        found["new"] = await backend.read(info.key)
        found["old"] = await backend.read(found["old key"])

    store.on(SessionEvent.created, on_created)
    store.on(SessionEvent.rotated, on_rotated)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(make_app(store)), base_url=BASE
    ) as http:
        await http.get("/set", params={"a": "1"})
        found["old key"] = key_of(store, http.cookies["session"])
        await http.get("/login", params={"user": "alice"})
    # When the handlers ran, the commit had made every one of its backend calls.
    assert found["created"] is not None
    assert found["new"] is not None
    assert b'"u":"alice"' in found["new"]
    assert found["old"] == RETIRED


async def test_conflicts_merged_refused_and_ended(backend: SessionBackend) -> None:
    for strict in (False, True):
        store: SessionStore[Any] = SessionStore(backend, strict=strict)
        SessionMiddleware(make_app(store), secret_key=SECRET, store=store)
        events = Recorder(store)
        first = await Session(store, None).load()
        first["a"] = 1
        update = await store.commit(first, 200)
        assert update is not None
        assert update.value is not None
        slow = await Session(store, update.value).load()
        fast = await Session(store, update.value).load()
        fast["b"] = 2
        slow["c"] = 3
        await store.commit(fast, 200)
        events.take()
        if strict:
            with pytest.raises(SessionConflictError):
                await store.commit(slow, 200)
            assert events.take() == [("conflict", None, "refused")]
        else:
            await store.commit(slow, 200)
            assert events.take() == [("conflict", None, "merged"), ("saved", None, None)]

    assert update is not None
    assert update.value is not None
    late = await Session(store, update.value).load()
    ending = await Session(store, update.value).load()
    ending.destroy()
    await store.commit(ending, 200)
    late["d"] = 4
    events.take()
    with pytest.raises(SessionDestroyedError):
        await store.commit(late, 200)
    assert events.take() == [("conflict", None, "ended")]


async def test_revocations_are_told(backend: SessionBackend) -> None:
    store: SessionStore[Any] = SessionStore(backend, max_user_sessions=2)
    events = Recorder(store)
    app = make_app(store)
    cookies = []
    for _ in range(3):  # the third log-in ends the oldest session
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE) as http:
            await http.get("/login", params={"user": "alice"})
            cookies.append(http.cookies["session"])
    assert events.take()[-2:] == [
        ("revoked", "alice", "max_user_sessions"),  # noted during the commit, told after it
        ("created", "alice", None),
    ]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE) as http:
        http.cookies.set("session", cookies[2])
        assert (await http.get("/revoke-others")).json() == 1
    assert ("revoked", "alice", "revoke_user_sessions") in events.take()
    sessions = await store.user_sessions("alice")
    assert len(sessions) == 1
    assert await store.revoke_session("alice", sessions[0].key)
    assert events.take() == [("revoked", "alice", "revoke_session")]


@pytest.mark.redis
async def test_backend_errors_are_told(fresh_redis_server: RedisServer) -> None:
    client = redis.asyncio.Redis.from_url(fresh_redis_server.url)
    store: SessionStore[Any] = SessionStore(RedisBackend(client, timeout=1.0))
    events = Recorder(store)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(make_app(store)), base_url=BASE
    ) as http:
        await http.get("/set", params={"a": "1"})
        events.take()
        fresh_redis_server.kill()
        assert (await http.get("/get")).status_code == 503
        assert events.take() == [("backend_error", None, "load")]
    await client.aclose()


# Handlers that fail, and handlers of both kinds


async def test_a_failing_handler_never_fails_the_request(caplog: pytest.LogCaptureFixture) -> None:
    store: SessionStore[Any] = SessionStore()
    calls: list[str] = []

    def broken(info: SessionEventInfo) -> None:
        calls.append("sync")
        raise RuntimeError(f"boom {info.key}")

    async def broken_async(info: SessionEventInfo) -> None:
        calls.append("async")
        raise ValueError("async boom")

    def works(info: SessionEventInfo) -> None:
        calls.append("after")

    for handler in (broken, broken_async, works):
        store.on(SessionEvent.created, handler)
    caplog.set_level(logging.ERROR, logger="starlette_session")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(make_app(store)), base_url=BASE
    ) as http:
        response = await http.get("/set", params={"a": "1"})
        assert response.status_code == 200
        assert (await http.get("/get")).json() == {"a": "1"}  # it was saved
    assert calls == ["sync", "async", "after"]
    errors = [record for record in caplog.records if record.name == "starlette_session"]
    assert [record.getMessage() for record in errors] == [
        "a handler of the session event 'created' raised RuntimeError",
        "a handler of the session event 'created' raised ValueError",
    ]
    cookie = http.cookies["session"]
    assert all(cookie.split(".")[0] not in record.getMessage() for record in errors)


class FailingFirstCall:
    """An observer whose hook before the first backend call raises."""

    def started(self, operation: Operation) -> None:
        operation.first_call = self.fail

    def fail(self) -> None:
        raise RuntimeError("observer boom")

    def finished(self, operation: Operation, started: object) -> None:
        pass


async def test_a_failing_first_call_hook_never_fails_the_request(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store: SessionStore[Any] = SessionStore()
    store.observe(FailingFirstCall())
    caplog.set_level(logging.ERROR, logger="starlette_session")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(make_app(store)), base_url=BASE
    ) as http:
        assert (await http.get("/set", params={"a": "1"})).status_code == 200
        assert (await http.get("/get")).json() == {"a": "1"}
    errors = [
        record.getMessage() for record in caplog.records if record.name == "starlette_session"
    ]
    assert errors == ["a session observer raised RuntimeError"] * 2  # the create, the read


class OperationLog:
    """An observer that writes down each operation it saw end."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, int, str | None]] = []

    def started(self, operation: Operation) -> None:
        return None

    def finished(self, operation: Operation, started: object) -> None:
        error = type(operation.error).__name__ if operation.error is not None else None
        self.seen.append((operation.name, operation.outcome, operation.round_trips, error))

    def take(self) -> list[tuple[str, str, int, str | None]]:
        taken, self.seen = self.seen, []
        return taken


async def _unstorable(request: Request) -> Response:
    session = await load_session(request)
    session["tags"] = {"a set"}  # JSON holds no set
    return JSONResponse({})


async def test_observers_see_every_commit_that_does_something_and_none_that_does_not() -> None:
    """A request that only reads its session is one operation, its load: the commit that had
    nothing to write makes no backend call and is not observed. A commit that fails before its
    first backend call (data JSON cannot hold, a session moved by a log-in) is observed."""
    store: SessionStore[Any] = SessionStore()
    log = OperationLog()
    store.observe(log)
    app = make_app(store, routes=[Route("/unstorable", _unstorable)])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app, raise_app_exceptions=False), base_url=BASE
    ) as http:
        await http.get("/unused")
        assert log.take() == []
        await http.get("/get")  # a new visitor who stores nothing
        assert log.take() == [("load", "new", 0, None)]
        await http.get("/set", params={"a": "1"})
        assert log.take() == [("load", "new", 0, None), ("commit", "created", 1, None)]
        await http.get("/get")
        assert log.take() == [("load", "found", 1, None)]
        await http.get("/set", params={"a": "2"})
        assert log.take() == [("load", "found", 1, None), ("commit", "saved", 1, None)]
        assert (await http.get("/unstorable")).status_code == 500
        assert log.take() == [
            ("load", "found", 1, None),
            ("commit", "error", 0, "SessionNotSerializableError"),
        ]
        await http.get("/destroy")
        assert log.take() == [("load", "found", 1, None), ("commit", "destroyed", 1, None)]


def _failing_tally(infos: list[SessionEventInfo]) -> None:
    raise ZeroDivisionError


async def test_a_tally_gets_every_batch_of_events_before_the_handlers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``events.tally`` (how telemetry counts): one synchronous call per batch, the events of
    an operation and those of a revocation alike, before any handler; a failing tally is
    logged and skipped, like a failing handler."""
    store: SessionStore[Any] = SessionStore()
    order: list[tuple[str, list[str]]] = []
    store.events.tally(lambda infos: order.append(("tally", [i.event.value for i in infos])))
    store.events.tally(_failing_tally)
    for event in SessionEvent:
        store.on(event, lambda info: order.append(("handler", [info.event.value])))
    caplog.set_level(logging.ERROR, logger="starlette_session")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(make_app(store)), base_url=BASE
    ) as http:
        await http.get("/login", params={"user": "ann"})
        await http.get("/set", params={"a": "1"})
        await store.revoke_user_sessions("ann")
    assert order == [
        ("tally", ["created"]),
        ("handler", ["created"]),
        ("tally", ["loaded"]),
        ("handler", ["loaded"]),
        ("tally", ["saved"]),
        ("handler", ["saved"]),
        ("tally", ["revoked"]),
        ("handler", ["revoked"]),
    ]
    errors = [r.getMessage() for r in caplog.records if r.name == "starlette_session"]
    assert errors == ["a session event tally raised ZeroDivisionError"] * 4


def test_on_takes_a_session_event_and_a_callable() -> None:
    store: SessionStore[Any] = SessionStore()
    with pytest.raises(TypeError, match=r"SessionEvent\.created"):
        store.on("created", print)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="callable"):
        store.on(SessionEvent.created, None)  # type: ignore[arg-type]
    assert not store.events.active


# No handler: no cost. Counted in calls, not time.

EVENT_MODULES = {Path(starlette_session.events.__file__).resolve()}


class CallCounter:
    """Counts Python function calls made in the event modules while it is installed."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.total = 0

    def __call__(self, frame: FrameType, event: str, arg: Any) -> None:
        if event == "call":
            self.total += 1
            if Path(frame.f_code.co_filename).resolve() in EVENT_MODULES:
                self.calls.append(frame.f_code.co_name)

    async def run(self, flow: Callable[[], Any]) -> None:
        sys.setprofile(self)
        try:
            await flow()
        finally:
            sys.setprofile(None)


async def every_flow(store: SessionStore[Any]) -> None:
    """New, read, change, log-in, revoke, log-out, emptied, forged and ended cookies."""
    app = make_app(store)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE) as http:
        await http.get("/get")
        await http.get("/set", params={"a": "1"})
        first = http.cookies["session"]
        await http.get("/get")
        await http.get("/set", params={"a": "2"})
        await http.get("/login", params={"user": "alice"})
        await http.get("/revoke-others")
        await store.user_sessions("alice")
        await http.get("/logout")
        await http.get("/set", params={"a": "1"})
        await http.get("/clear")
        http.cookies.set("session", first)
        await http.get("/get")
        http.cookies.set("session", first[:-2] + "AA")
        await http.get("/get")


async def test_without_a_handler_no_event_code_runs() -> None:
    store: SessionStore[Any] = SessionStore(MemoryBackend())
    counter = CallCounter()
    await counter.run(lambda: every_flow(store))
    assert counter.total > 1000  # the profiler saw the requests
    assert counter.calls == []

    # The same flows with one handler do call into it: the counter would have seen them.
    watched: SessionStore[Any] = SessionStore(MemoryBackend())
    watched.on(SessionEvent.tampered, lambda info: None)
    counter = CallCounter()
    await counter.run(lambda: every_flow(watched))
    assert counter.calls.count("operation") >= 2  # loads and commits, observed


# Nothing left for the cycle collector, with or without handlers, observers and device tracking


async def call(
    app: Any, method: str, path: str, cookie: str | None, query: bytes = b"a=1"
) -> str | None:
    """One request straight into the ASGI app; the session cookie it sets, if any."""
    headers = [(b"cookie", f"session={cookie}".encode())] if cookie else []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "headers": [(b"host", b"testserver"), (b"user-agent", b"test"), *headers],
        "client": ("203.0.113.9", 1234),
        "server": ("testserver", 80),
    }
    cycle = _RequestCycle(scope)
    await app(scope, cycle.receive, cycle.send)
    return cycle.set_cookie[0] if cycle.set_cookie else None


class _RequestCycle:
    """What a server holds per request, as uvicorn's does: the scope, and ``send`` and
    ``receive`` as its bound methods. Whatever the middleware keeps of ``send`` in the scope's
    session closes a reference cycle through this object."""

    def __init__(self, scope: dict[str, Any]) -> None:
        self.scope = scope
        self.set_cookie: list[str] = []

    async def receive(self) -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(self, message: dict[str, Any]) -> None:
        for name, value in message.get("headers", ()):
            if name == b"set-cookie" and value.startswith(b"session="):
                self.set_cookie.append(value.decode().split(";")[0].removeprefix("session="))


@pytest.mark.parametrize("setup", ["plain", "handlers", "devices"])
async def test_a_request_leaves_nothing_for_the_cycle_collector(setup: str) -> None:
    store: SessionStore[Any] = SessionStore(track_devices=setup == "devices")
    if setup == "handlers":
        Recorder(store)
        store.observe(CountingObserver())
    app = make_app(store)
    await call(app, "GET", "/login", None, b"user=ann")  # warm up
    cookie = await call(app, "GET", "/login", None, b"user=ann")
    gc.collect()
    gc.disable()
    try:
        for _ in range(20):
            await call(app, "GET", "/get", cookie)
            await call(app, "GET", "/set", cookie)
            await call(app, "GET", "/unused", None)
        assert gc.collect() == 0
    finally:
        gc.enable()


class CountingObserver:
    def __init__(self) -> None:
        self.finished_operations = 0

    def started(self, operation: Any) -> None:
        return None

    def finished(self, operation: Any, started: object) -> None:
        self.finished_operations += 1
