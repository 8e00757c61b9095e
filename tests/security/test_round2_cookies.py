"""Security round 2, scenarios 1 to 3: the Cookie header and what responses tell caches.

1. A cookie hidden inside another cookie's value is never read (RFC 6265, 5.4: pairs separated
   by ``;``).
2. A response that shows a session with data is not stored by caches or the browser's
   back/forward cache (``Cache-Control: no-store``), and a log-out also clears what the browser
   kept (``Clear-Site-Data: "cache"``). In a real browser:
   ``tests/browser/test_back_forward_cache.py``.
3. ``Vary: Cookie`` only on responses whose session the application used, even when the
   middleware loads every session (the original API's ``autoload``).
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from starlette_session import SessionMiddleware, SessionStore
from tests.security.conftest import SECRET, Client, Real, asgi_request, build_app

HOST_COOKIE = "__Host-session"


async def signed_in(app: SessionMiddleware, user: str) -> str:
    client = Client(app)
    await client.post("/login", {"user": user})
    assert client.cookie is not None
    return client.cookie


# Scenario 1


async def test_a_host_cookie_hidden_in_another_cookies_value_is_never_read(real: Real) -> None:
    app = build_app(SessionStore(real.counting), cookie_name=HOST_COOKIE, https_only=True)
    attacker = await signed_in(app, "mallory")
    victim = await signed_in(app, "alice")
    # A sibling subdomain or a plain-HTTP page set "pref" for the parent domain; browsers may
    # list it first. Its value holds the attacker's signed session.
    header = f"pref=x {HOST_COOKIE}={attacker}; {HOST_COOKIE}={victim}".encode()

    reply = await asgi_request(app, "GET", "/read", headers=[(b"cookie", header)])

    assert reply.json()["user"] == "alice"


@pytest.mark.parametrize(
    "before",
    ["note=see session=", "note=session=forged", "a=1,session=x", 'q="session=a b"'],
)
async def test_a_value_holding_the_session_name_does_not_log_the_user_out(
    real: Real, before: str
) -> None:
    app = build_app(SessionStore(real.counting))
    cookie = await signed_in(app, "alice")
    header = f"{before}; session={cookie}".encode()

    reply = await asgi_request(app, "GET", "/read", headers=[(b"cookie", header)])

    assert reply.json()["user"] == "alice"
    assert reply.session_cookie() is None, "nothing to replace: the real cookie was read"


# Scenario 2


async def test_a_response_showing_a_signed_in_session_is_not_stored(real: Real) -> None:
    app = build_app(SessionStore(real.counting))
    client = Client(app)
    assert (await client.get()).header("cache-control") is None, "an empty session: nothing private"
    await client.post("/login", {"user": "alice"})

    reply = await client.get()  # a read: no cookie is set, and still not cacheable

    assert reply.session_cookie() is None
    assert reply.header("cache-control") == "no-store"
    assert "cookie" in (reply.header("vary") or "").lower()
    assert (await client.get("/plain")).header("cache-control") is None, "session not used"


async def test_log_out_clears_what_the_browser_kept(real: Real) -> None:
    app = build_app(SessionStore(real.counting))
    client = Client(app)
    await client.post("/login", {"user": "alice"})

    reply = await client.post("/logout")

    assert reply.header("clear-site-data") == '"cache"'
    assert reply.header("cache-control") == "no-store"
    assert reply.cookie_value() == ""
    again = await client.post("/logout")  # nothing to log out of: nothing to clear
    assert again.header("clear-site-data") is None


async def test_the_cache_headers_are_configurable(real: Real) -> None:
    app = build_app(
        SessionStore(real.counting),
        cache_control="private, no-cache",
        clear_site_data='"cache", "storage"',
    )
    client = Client(app)
    await client.post("/login", {"user": "alice"})
    assert (await client.get()).header("cache-control") == "private, no-cache"
    assert (await client.post("/logout")).header("clear-site-data") == '"cache", "storage"'

    off = build_app(SessionStore(real.counting), cache_control=None, clear_site_data=None)
    client = Client(off)
    await client.post("/login", {"user": "alice"})
    assert (await client.get()).header("cache-control") is None
    assert (await client.post("/logout")).header("clear-site-data") is None


# Scenario 3


def original_api_app() -> SessionMiddleware:
    async def plain(request: Request) -> PlainTextResponse:
        return PlainTextResponse("no session used")

    async def read(request: Request) -> JSONResponse:
        return JSONResponse(dict(request.session))

    async def write(request: Request) -> JSONResponse:
        request.session["n"] = 1
        return JSONResponse(dict(request.session))

    routes = [Route("/plain", plain), Route("/read", read), Route("/write", write)]
    # The original API: no store, so the middleware loads every request's session.
    return SessionMiddleware(Starlette(routes=routes), secret_key=SECRET)


@pytest.mark.parametrize("with_cookie", [False, True])
async def test_vary_cookie_only_when_the_session_was_used_even_with_autoload(
    with_cookie: bool,
) -> None:
    app = original_api_app()
    assert app.autoload
    client = Client(app)
    if with_cookie:
        await client.get("/write")
        assert client.cookie is not None

    plain = await client.get("/plain")
    used = await client.get("/read")

    assert plain.header("vary") is None
    assert plain.session_cookie() is None
    assert "cookie" in (used.header("vary") or "").lower()


async def test_an_explicit_autoload_store_adds_no_vary_to_an_unused_response(real: Real) -> None:
    store: SessionStore[Any] = SessionStore(real.counting)
    app = build_app(store, autoload=True)
    client = Client(app)
    await client.post("/write", {"a": 1})
    assert (await client.get("/plain")).header("vary") is None


async def test_the_page_after_a_log_out_clears_the_browsers_kept_pages_once(real: Real) -> None:
    # A log-out answered with a redirect from the signed-in page itself: that page enters the
    # back/forward cache after the log-out's response, so the next response using the session
    # (the page the redirect leads to) clears it, then forgets the marker.
    app = build_app(SessionStore(real.counting))
    client = Client(app)
    await client.post("/login", {"user": "alice"})

    logout = await client.post("/logout")

    assert "session-ended=1; Max-Age=60" in " ".join(logout.header_list("set-cookie"))
    marker = [(b"cookie", b"session-ended=1")]
    after = await client.get("/read", cookie=None, headers=marker)
    assert after.header("clear-site-data") == '"cache"'
    assert any(v.startswith("session-ended=; Max-Age=0") for v in after.header_list("set-cookie"))
    assert (await client.get("/read", cookie=None)).header("clear-site-data") is None
    assert (await client.get("/plain", cookie=None, headers=marker)).header(
        "clear-site-data"
    ) is None
