"""Cross-origin protection over HTTP, on memory, Redis and SQLite: with
``SessionMiddleware(cross_origin=...)``, an unsafe request that carries the session cookie and
that another site made the browser send is refused with 403 and a log line, before the
application runs and without a backend call."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from starlette_session import CrossOriginCheck, SessionSettingsError, SessionStore, load_session
from starlette_session.backends import SessionBackend
from tests.security.conftest import Client, CountingBackend, build_app

SECURITY_LOGGER = "starlette_session.security"
CROSS_SITE = [(b"sec-fetch-site", b"cross-site"), (b"origin", b"https://evil.example")]


def make(backend: SessionBackend, cross_origin: Any) -> tuple[Any, CountingBackend]:
    counting = CountingBackend(backend)
    return build_app(SessionStore(counting), cross_origin=cross_origin), counting


async def signed_in(app: Any) -> Client:
    client = Client(app)
    assert (await client.post("/login", {"user": "ann"})).status == 200
    return client


async def test_off_by_default(backend_with_sqlite: SessionBackend) -> None:
    app, _ = make(backend_with_sqlite, False)
    client = await signed_in(app)
    assert (await client.post("/write", {"a": 1}, headers=CROSS_SITE)).status == 200


async def test_a_cross_site_post_with_the_session_cookie_is_refused(
    backend_with_sqlite: SessionBackend, caplog: pytest.LogCaptureFixture
) -> None:
    app, counting = make(backend_with_sqlite, True)
    client = await signed_in(app)
    counting.calls.clear()
    caplog.set_level("WARNING", SECURITY_LOGGER)
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        reply = await client.request(method, "/write", {"a": 1}, headers=CROSS_SITE)
        assert reply.status == 403
        assert reply.body == b"Cross-origin request refused."
        assert reply.session_cookie() is None
    assert counting.calls == []  # refused before the app, and before any backend call
    assert "cross-origin request refused: POST /write (Sec-Fetch-Site: cross-site)" in caplog.text
    assert client.cookie is not None
    assert client.cookie not in caplog.text
    assert (await client.get()).json()["data"] == {"user": "ann"}


async def test_what_passes(backend_with_sqlite: SessionBackend) -> None:
    app, _ = make(backend_with_sqlite, True)
    client = await signed_in(app)
    passing = [
        [(b"sec-fetch-site", b"same-origin"), (b"origin", b"https://testserver")],
        [(b"sec-fetch-site", b"none")],  # typed in the address bar, a bookmark
        [(b"origin", b"https://testserver")],  # an older browser: Origin matches Host
        [],  # neither header: not a browser a page drives
    ]
    for headers in passing:
        assert (await client.post("/write", {"a": 1}, headers=headers)).status == 200, headers
    # Safe methods, and requests without the session cookie, are never checked.
    assert (await client.get("/read", headers=CROSS_SITE)).status == 200
    anonymous = Client(app)
    assert (await anonymous.post("/write", {"a": 1}, headers=CROSS_SITE)).status == 200


async def test_what_is_refused_without_sec_fetch_site(backend_with_sqlite: SessionBackend) -> None:
    app, _ = make(backend_with_sqlite, True)
    client = await signed_in(app)
    for origin in (b"https://evil.example", b"null", b"https://testserver.evil.example"):
        reply = await client.post("/write", {"a": 1}, headers=[(b"origin", origin)])
        assert reply.status == 403, origin
    same_site = [(b"sec-fetch-site", b"same-site"), (b"origin", b"https://shop.testserver")]
    assert (await client.post("/write", {"a": 1}, headers=same_site)).status == 403


async def test_trusted_origins_and_exempt_paths(backend_with_sqlite: SessionBackend) -> None:
    check = CrossOriginCheck(
        trusted_origins=["https://Shop.testserver/"], exempt_paths=["/write", "/remember*"]
    )
    app, _ = make(backend_with_sqlite, check)
    client = await signed_in(app)
    trusted = [(b"sec-fetch-site", b"same-site"), (b"origin", b"https://shop.testserver")]
    assert (await client.post("/regenerate", headers=trusted)).status == 200
    assert (await client.post("/regenerate", headers=CROSS_SITE)).status == 403
    # An OAuth provider's form_post callback, a webhook: exempt.
    assert (await client.post("/write", {"a": 1}, headers=CROSS_SITE)).status == 200
    reply = await client.post("/remember", {"seconds": 60}, headers=CROSS_SITE)
    assert reply.status == 200


def test_a_trusted_origin_must_be_an_origin() -> None:
    for bad in ("evil.example", "https://x.example/path", "ftp://x.example", "https://u@x.example"):
        with pytest.raises(SessionSettingsError, match="origin"):
            CrossOriginCheck(trusted_origins=[bad])


async def test_hostile_origin_and_fetch_headers_are_refused_never_a_500(
    backend_with_sqlite: SessionBackend, caplog: pytest.LogCaptureFixture
) -> None:
    """Origins Python's URL parser rejects (an unclosed IPv6 bracket), huge, non-ASCII, with
    user info or a fragment, and case or whitespace tricks: 403 with one log line, never a
    500, and nothing of the cookie logged."""
    app, counting = make(backend_with_sqlite, True)
    client = await signed_in(app)
    counting.calls.clear()
    caplog.set_level("WARNING", SECURITY_LOGGER)
    refused = [
        [(b"origin", b"http://[")],
        [(b"origin", b"https://testserver]")],
        [(b"origin", b"http://[::1")],
        [(b"origin", b"https://" + b"a" * 100_000)],
        [(b"origin", "https://t\u00e9stserver".encode("latin-1"))],
        [(b"origin", b"https://testserver@evil.example")],
        [(b"origin", b"https://evil.example#@testserver")],
        [(b"origin", b"https://evil.example/testserver")],
        [(b"origin", b" NULL ")],
        [(b"origin", b"")],
        [(b"sec-fetch-site", b"CROSS-SITE"), (b"origin", b"https://testserver")],
        [(b"sec-fetch-site", b" cross-site ")],
        [(b"sec-fetch-site", b"same-origin, cross-site")],
        [(b"sec-fetch-site", b"")],
        [(b"sec-fetch-site", b"\xff\xfe")],
    ]
    for headers in refused:
        reply = await client.post("/write", {"a": 1}, headers=headers)
        assert reply.status == 403, headers
    assert caplog.text.count("cross-origin request refused") == len(refused)
    assert max(len(line) for line in caplog.text.splitlines()) < 400  # the reason is cut
    assert client.cookie is not None
    assert client.cookie not in caplog.text
    assert counting.calls == []
    # Case and whitespace of a passing value change nothing.
    for site in (b"Same-Origin", b" same-origin ", b"NONE"):
        reply = await client.post("/write", {"a": 1}, headers=[(b"sec-fetch-site", site)])
        assert reply.status == 200, site
    upper = [(b"origin", b"HTTPS://TESTSERVER")]
    assert (await client.post("/write", {"a": 1}, headers=upper)).status == 200


async def test_a_refusal_log_line_cannot_be_forged_from_the_path_or_a_header(
    backend_with_sqlite: SessionBackend, caplog: pytest.LogCaptureFixture
) -> None:
    """The path (percent-decoded: ``%0A`` is a newline) and the Origin are the client's: a
    refusal logs them escaped, on one line, so a request cannot write a line of its own into
    the security log."""
    app, _ = make(backend_with_sqlite, True)
    client = await signed_in(app)
    caplog.set_level("WARNING", SECURITY_LOGGER)
    forged = "/x\nWARNING starlette_session.security: all is well\r"
    assert (await client.post(forged, {"a": 1}, headers=CROSS_SITE)).status == 403
    records = [r for r in caplog.records if r.name == SECURITY_LOGGER]
    assert len(records) == 1
    message = records[0].getMessage()
    assert "\n" not in message
    assert "\r" not in message
    assert "all is well" in message  # shown, escaped, on the one line


async def _socket_user(websocket: WebSocket) -> None:
    await websocket.accept()
    session = await load_session(websocket)
    await websocket.send_json({"user": session.get("user")})
    await websocket.close()


async def _handshake(app: Any, cookie: str | None, headers: list[tuple[bytes, bytes]]) -> Any:
    """The messages the app sends for a WebSocket handshake to /socket."""
    sent_headers = [(b"host", b"testserver"), *headers]
    if cookie is not None:
        sent_headers.append((b"cookie", f"session={cookie}".encode()))
    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "wss",
        "path": "/socket",
        "raw_path": b"/socket",
        "root_path": "",
        "query_string": b"",
        "headers": sent_headers,
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 443),
        "subprotocols": [],
        "state": {},
    }
    incoming = [{"type": "websocket.connect"}, {"type": "websocket.disconnect", "code": 1000}]
    messages: list[Any] = []

    async def receive() -> Any:
        return incoming.pop(0) if incoming else {"type": "websocket.disconnect", "code": 1000}

    async def send(message: Any) -> None:
        messages.append(message)

    await app(scope, receive, send)
    return messages


async def test_a_cross_site_websocket_handshake_with_the_session_cookie_is_refused(
    backend_with_sqlite: SessionBackend, caplog: pytest.LogCaptureFixture
) -> None:
    """Cross-site WebSocket hijacking: a page of a sibling subdomain (which SameSite=Lax lets
    send the cookie) or of any site (``same_site="none"``) opens a WebSocket to the app and
    talks to it as the user. With the check on, the handshake is refused (closed before it is
    accepted: a 403) with one warning, before the app and without a backend call; same-origin
    handshakes, and those without the session cookie, open."""
    counting = CountingBackend(backend_with_sqlite)
    routes = [WebSocketRoute("/socket", _socket_user)]
    app = build_app(SessionStore(counting), routes=routes, cross_origin=True)
    client = await signed_in(app)
    counting.calls.clear()
    caplog.set_level("WARNING", SECURITY_LOGGER)
    for headers in (
        [(b"origin", b"https://user-content.testserver"), (b"sec-fetch-site", b"same-site")],
        [(b"origin", b"https://evil.example")],
        [(b"origin", b"null")],
    ):
        messages = await _handshake(app, client.cookie, headers)
        assert messages == [{"type": "websocket.close", "code": 1008}], headers
    assert counting.calls == []
    assert caplog.text.count("cross-origin request refused: WEBSOCKET /socket") == 3
    same_origin = [(b"origin", b"https://testserver"), (b"sec-fetch-site", b"same-origin")]
    messages = await _handshake(app, client.cookie, same_origin)
    assert messages[0] == {"type": "websocket.accept", "subprotocol": None, "headers": []}
    assert messages[1]["text"] == '{"user":"ann"}'
    anonymous = await _handshake(app, None, [(b"origin", b"https://evil.example")])
    assert anonymous[1]["text"] == '{"user":null}'
