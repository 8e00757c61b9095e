"""Every guarantee holds with every feature switched on at once: encryption, the user cap's
``"refuse"`` policy, device tracking, event handlers and an operation observer, the
cross-origin check, old-cookie migration, CSRF tokens, flash messages and recent
authentication; and races between two backend operations across those features. Memory,
Redis, SQLite.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from starlette_session import (
    KeyRing,
    RequireRecentAuth,
    SessionEvent,
    SessionEventInfo,
    SessionLimitError,
    SessionStore,
    csrf_token,
    generate_key,
    get_flashes,
    load_session,
    verify_csrf,
)
from starlette_session.backends import SessionBackend
from starlette_session.events import Operation
from tests.security.conftest import SECRET, Client, CountingBackend, build_app

CAP = 4
KEY = generate_key()
CROSS_SITE = [(b"sec-fetch-site", b"cross-site"), (b"origin", b"https://evil.example")]


class Recorder:
    """Every event and every operation the store tells of."""

    def __init__(self) -> None:
        self.events: list[SessionEventInfo] = []
        self.operations: list[Operation] = []

    def handler(self, info: SessionEventInfo) -> None:
        self.events.append(info)

    def started(self, operation: Operation) -> None:
        return None

    def finished(self, operation: Operation, token: Any) -> None:
        self.operations.append(operation)

    def text(self) -> str:
        shown = [repr(info) for info in self.events]
        shown += [
            repr(vars(op)) if hasattr(op, "__dict__") else _slots(op) for op in self.operations
        ]
        return "\n".join(shown)


def _slots(operation: Operation) -> str:
    return repr({name: getattr(operation, name, None) for name in Operation.__slots__})


async def _login(request: Request) -> Response:
    session = await load_session(request)
    await verify_csrf(request)
    try:
        await session.begin_login("bob")
    except SessionLimitError:
        return PlainTextResponse("sign out on another device first", status_code=403)
    session.regenerate()
    session.set_user("bob")
    session["user"] = "bob"
    (await get_flashes(request)).add("Welcome back")
    return JSONResponse({"user": "bob"})


async def _token(request: Request) -> Response:
    return JSONResponse({"token": await csrf_token(request)})


async def _show(request: Request) -> Response:
    return JSONResponse([m.message for m in (await get_flashes(request)).pop()])


SENSITIVE = RequireRecentAuth(300)


async def _sensitive(request: Request) -> Response:
    await verify_csrf(request)
    session = await SENSITIVE.check(request)
    return JSONResponse({"user": session.user_id})


ROUTES = [
    Route("/everything-login", _login, methods=["POST"]),
    Route("/token", _token),
    Route("/show", _show),
    Route("/sensitive", _sensitive, methods=["POST"]),
]


def everything_on(backend: SessionBackend) -> tuple[Any, CountingBackend, Recorder]:
    counting = CountingBackend(backend)
    store: SessionStore[Any] = SessionStore(
        counting,
        max_user_sessions=CAP,
        at_user_cap="refuse",
        track_devices=True,
        encryption=KeyRing([("k1", KEY)]),
    )
    recorder = Recorder()
    for event in SessionEvent:
        store.on(event, recorder.handler)
    store.observe(recorder)
    app = build_app(store, routes=ROUTES, cross_origin=True, migrate_from="starlette")
    return app, counting, recorder


class Tab:
    """A browser: the session cookie and the visitor's CSRF cookie."""

    def __init__(self, app: Any) -> None:
        self.client = Client(app)
        self.csrf_cookie = ""

    def headers(self, token: str | None = None) -> list[tuple[bytes, bytes]]:
        headers = [(b"sec-fetch-site", b"same-origin")]
        if self.csrf_cookie:
            headers.append((b"cookie", f"session-csrf={self.csrf_cookie}".encode()))
        if token is not None:
            headers.append((b"x-csrf-token", token.encode()))
        return headers

    async def token(self) -> str:
        reply = await self.client.get("/token", headers=self.headers())
        for header in reply.header_list("set-cookie"):
            if header.startswith("session-csrf="):
                self.csrf_cookie = header.split(";", 1)[0].partition("=")[2]
        token: str = reply.json()["token"]
        return token

    async def post(self, path: str, token: str | None = None) -> Any:
        return await self.client.post(path, headers=self.headers(token))


async def test_forty_log_ins_at_the_cap_with_every_feature_on(
    backend_with_sqlite: SessionBackend, caplog: pytest.LogCaptureFixture
) -> None:
    """40 CSRF-protected log-ins of one user at once, sealed, devices tracked, observed: exactly
    the cap signed in, the rest refused; each winner's flash message, token and recent
    authentication work; no cookie, session id, key or CSRF secret in a log line, an event or
    an observed operation."""
    app, counting, recorder = everything_on(backend_with_sqlite)
    caplog.set_level(logging.DEBUG)
    tabs = [Tab(app) for _ in range(40)]
    tokens = [await tab.token() for tab in tabs]
    assert counting.calls == []  # visitors' forms: nothing stored, no backend call

    replies = await asyncio.gather(
        *(tab.post("/everything-login", token) for tab, token in zip(tabs, tokens, strict=True))
    )
    assert sorted(reply.status for reply in replies) == [200] * CAP + [403] * (40 - CAP)
    winners = [tab for tab, reply in zip(tabs, replies, strict=True) if reply.status == 200]
    assert len(await app.store.user_sessions("bob")) == CAP

    secrets_seen = [KEY]
    for tab in winners:
        assert (await tab.client.get("/show")).json() == ["Welcome back"]
        token = await tab.token()
        secrets_seen += [token, tab.client.cookie or "", tab.csrf_cookie]
        assert (await tab.post("/sensitive", token)).json() == {"user": "bob"}
        # A cross-site post with the cookie: refused before the app.
        reply = await tab.client.post("/sensitive", headers=[*tab.headers(token)[1:], *CROSS_SITE])
        assert reply.status == 403
        assert reply.body == b"Cross-origin request refused."
    for tab in tabs:
        secrets_seen += [tab.csrf_cookie, tab.csrf_cookie.partition(".")[0]]
    for cookie in {tab.client.cookie for tab in winners}:
        assert cookie is not None
        secrets_seen.append(cookie.rsplit(".", 2)[0])  # the session id alone
    told = recorder.text() + caplog.text
    assert recorder.events
    assert recorder.operations
    for secret in secrets_seen:
        if secret:
            assert secret not in told


@pytest.mark.parametrize("end", ["revoke", "log_out"])
async def test_reauthentication_racing_a_revocation_does_not_survive_it(
    backend_with_sqlite: SessionBackend, end: str
) -> None:
    """A "confirm your password" request loads the session; meanwhile the user's sessions are
    revoked (a password change elsewhere) or the session logs out in another tab; its commit,
    which moves the session to a new id, must not bring the session back."""
    loaded, go = asyncio.Event(), asyncio.Event()

    async def confirm(request: Request) -> Response:
        session = await load_session(request)
        session.reauthenticated("password")
        loaded.set()
        await go.wait()
        return JSONResponse({})

    store: SessionStore[Any] = SessionStore(
        backend_with_sqlite, encryption=KeyRing([("k1", KEY)]), track_devices=True
    )
    app = build_app(store, routes=[Route("/confirm", confirm, methods=["POST"])])
    client = Client(app)
    assert (await client.post("/login", {"user": "ann"})).status == 200
    task = asyncio.create_task(client.post("/confirm"))
    await loaded.wait()
    if end == "revoke":
        await store.revoke_user_sessions("ann")
    else:
        assert (await Client(app, client.cookie).post("/logout")).status == 200
    go.set()
    reply = await task
    assert reply.status in (200, 409)
    assert await store.user_sessions("ann") == []
    assert (await client.get("/read")).json()["data"] == {}


async def test_a_log_out_during_a_request_that_adds_a_message_or_a_token_wins(
    backend_with_sqlite: SessionBackend,
) -> None:
    """A request loads the signed-in session and adds a flash message and a CSRF token; the
    user logs out in another tab before it commits: the session stays ended (no user, no
    data), the late request gets 409, and its token does not pass."""
    loaded, go = asyncio.Event(), asyncio.Event()

    async def slow_page(request: Request) -> Response:
        (await get_flashes(request)).add("saved")
        token = await csrf_token(request)
        loaded.set()
        await go.wait()
        return JSONResponse({"token": token})

    store: SessionStore[Any] = SessionStore(backend_with_sqlite, encryption=KeyRing([("k1", KEY)]))
    app = build_app(store, routes=[*ROUTES, Route("/slow", slow_page)], secret_key=SECRET)
    client = Client(app)
    assert (await client.post("/login", {"user": "ann"})).status == 200
    cookie = client.cookie
    task = asyncio.create_task(client.get("/slow"))
    await loaded.wait()
    assert (await client.post("/logout")).status == 200
    go.set()
    reply = await task
    assert reply.status == 409
    assert await store.user_sessions("ann") == []
    late = Client(app, cookie)
    assert (await late.get("/read")).json()["data"] == {}
    token_reply = await late.request("POST", "/sensitive", headers=[(b"x-csrf-token", b"x" * 86)])
    assert token_reply.status == 403


async def test_key_rotation_while_two_instances_write_one_session_at_once(
    backend_with_sqlite: SessionBackend, caplog: pytest.LogCaptureFixture
) -> None:
    """The rotation's second step, deployed one instance at a time: one instance seals under
    the old key, the other under the new one, both open both. 20 requests writing one session
    at once, alternately on each: all 200, every field kept, nothing refused as tampered; once
    the old key is gone, the session written last under the new key still reads."""
    old, new = generate_key(), generate_key()
    tampered: list[SessionEventInfo] = []
    apps = []
    for ring in ([("k1", old), ("k2", new)], [("k2", new), ("k1", old)]):
        store: SessionStore[Any] = SessionStore(backend_with_sqlite, encryption=KeyRing(ring))
        store.on(SessionEvent.tampered, tampered.append)
        apps.append(build_app(store))
    caplog.set_level("WARNING", "starlette_session.security")
    first = Client(apps[0])
    assert (await first.post("/write", {"start": 0})).status == 200
    cookie = first.cookie
    replies = await asyncio.gather(
        *(
            Client(apps[index % 2], cookie).post("/write", {f"field{index}": index})
            for index in range(20)
        )
    )
    assert [reply.status for reply in replies] == [200] * 20
    assert tampered == []
    assert "security" not in caplog.text
    expected = {"start": 0, **{f"field{index}": index for index in range(20)}}
    assert (await Client(apps[1], cookie).get()).json()["data"] == expected
    # Written last by the new-key instance: the old key can go.
    assert (await Client(apps[1], cookie).post("/write", {"last": 1})).status == 200
    store = SessionStore(backend_with_sqlite, encryption=KeyRing([("k2", new)]))
    only_new = build_app(store)
    assert (await Client(only_new, cookie).get()).json()["data"] == {**expected, "last": 1}


async def test_a_device_at_the_cap_double_submitting_its_log_in_stays_within_it(
    backend_with_sqlite: SessionBackend,
) -> None:
    """At the cap (refuse, sealed), a signed-in device sends its log-in twice at once (a
    double click): it is not refused for replacing its own session, and the user never ends
    with more than the cap alive."""
    store: SessionStore[Any] = SessionStore(
        backend_with_sqlite,
        max_user_sessions=CAP,
        at_user_cap="refuse",
        encryption=KeyRing([("k1", KEY)]),
        track_devices=True,
    )

    async def login(request: Request) -> Response:
        session = await load_session(request)
        try:
            await session.begin_login("bob")
        except SessionLimitError:
            return PlainTextResponse("sign out on another device first", status_code=403)
        session.regenerate()
        session.set_user("bob")
        session["user"] = "bob"
        return JSONResponse({})

    app = build_app(store, routes=[Route("/bob", login, methods=["POST"])])
    devices = [Client(app) for _ in range(CAP)]
    for device in devices:
        assert (await device.post("/bob")).status == 200
    cookie = devices[0].cookie
    replies = await asyncio.gather(*(Client(app, cookie).post("/bob") for _ in range(2)))
    assert 200 in [reply.status for reply in replies]
    assert len(await store.user_sessions("bob")) <= CAP
    live = 0
    for device in devices[1:]:
        live += (await device.get()).json()["data"] == {"user": "bob"}
    assert live == CAP - 1  # the other devices were not ended to make room


async def test_reauthenticating_or_a_new_id_at_the_cap_is_never_refused(
    backend_with_sqlite: SessionBackend,
) -> None:
    """At the cap (refuse, sealed): "confirm your password" and ``regenerate()`` give the
    session a new id in place of its own: neither is a log-in beyond the cap."""

    async def confirm(request: Request) -> Response:
        session = await load_session(request)
        session.reauthenticated("otp")
        return JSONResponse({})

    store: SessionStore[Any] = SessionStore(
        backend_with_sqlite,
        max_user_sessions=CAP,
        at_user_cap="refuse",
        encryption=KeyRing([("k1", KEY)]),
    )
    routes = [Route("/confirm", confirm, methods=["POST"]), *ROUTES]
    app = build_app(store, routes=routes)
    devices = [Client(app) for _ in range(CAP)]
    for device in devices:
        assert (await device.post("/login", {"user": "bob"})).status == 200
    for device in devices:
        before = device.cookie
        assert (await device.post("/confirm")).status == 200
        assert device.cookie != before
        assert (await device.post("/regenerate")).status == 200
    assert len(await store.user_sessions("bob")) == CAP
    for device in devices:
        assert (await device.get()).json()["data"] == {"user": "bob"}


async def test_switching_every_feature_on_adds_no_backend_call_to_any_request(
    backend_with_sqlite: SessionBackend,
) -> None:
    """The same requests (one that never touches its session, a read, a change, a log-in, a
    read after it, a log-out) make the same backend calls with encryption, the cap's refusal,
    device tracking, event handlers, an observer, the cross-origin check and migration all on
    as with none of them."""

    async def sequence(app: Any, counting: CountingBackend) -> list[int]:
        client = Client(app)
        same_origin = [(b"sec-fetch-site", b"same-origin")]
        calls = []
        for method, path, payload in (
            ("POST", "/write", {"a": 1}),
            ("GET", "/plain", None),
            ("GET", "/read", None),
            ("POST", "/write", {"a": 2}),
            ("POST", "/login", {"user": "bob"}),
            ("GET", "/read", None),
            ("POST", "/write", {"b": 1}),
            ("POST", "/logout", None),
        ):
            counting.calls.clear()
            reply = await client.request(method, path, payload, headers=same_origin)
            assert reply.status == 200, path
            calls.append(len(counting.calls))
        return calls

    plain = CountingBackend(backend_with_sqlite)
    baseline = await sequence(build_app(SessionStore(plain)), plain)
    app, counting, recorder = everything_on(backend_with_sqlite)
    assert await sequence(app, counting) == baseline
    assert recorder.events


class Cart(BaseModel):
    items: list[str] = []
    user: str | None = None


async def test_flash_messages_and_csrf_with_a_typed_model_and_encryption(
    backend_with_sqlite: SessionBackend,
) -> None:
    """A typed store (its model never sees the metadata), sealed: a request that only adds a
    flash message stores it, the next shows it once, and the typed data is untouched; the
    signed-in CSRF token passes."""

    async def add(request: Request) -> Response:
        (await get_flashes(request)).add("added")
        return JSONResponse({})

    async def cart(request: Request) -> Response:
        session = await load_session(request)
        session.model(Cart).items.append("apple")
        return JSONResponse({})

    store: SessionStore[Cart] = SessionStore(
        backend_with_sqlite, Cart, encryption=KeyRing([("k1", KEY)])
    )
    routes = [
        Route("/add", add, methods=["POST"]),
        Route("/cart", cart, methods=["POST"]),
        *ROUTES,
    ]
    app = build_app(store, routes=routes)
    tab = Tab(app)
    assert (await tab.client.post("/cart")).status == 200
    assert (await tab.client.post("/add")).status == 200
    assert (await tab.client.get("/show")).json() == ["added"]
    assert (await tab.client.get("/show")).json() == []
    assert (await tab.client.get()).json()["data"]["items"] == ["apple"]
    token = await tab.token()
    assert (await tab.post("/everything-login", token)).status == 200
    assert (await tab.client.get("/show")).json() == ["Welcome back"]
    token = await tab.token()
    assert (await tab.post("/sensitive", token)).json() == {"user": "bob"}
