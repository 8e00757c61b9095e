"""Requirements 14-17: cookie policy checked at start-up, response headers, where the id is read
from, and duplicate cookies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from starlette_session import SessionMiddleware, SessionStore, load_session
from tests.security.conftest import SECRET, Client, Real, asgi_request, build_app

# 14. Cookie policy validated at start-up.

REFUSED: dict[str, dict[str, Any]] = {
    "host-without-secure": {"cookie_name": "__Host-session"},
    "host-with-path": {"cookie_name": "__Host-session", "https_only": True, "path": "/app"},
    "host-with-domain": {
        "cookie_name": "__Host-session",
        "https_only": True,
        "domain": "example.com",
    },
    "host-lowercase-without-secure": {"cookie_name": "__host-session"},
    "host-uppercase-with-domain": {
        "cookie_name": "__HOST-session",
        "https_only": True,
        "domain": "example.com",
    },
    "secure-prefix-without-secure": {"cookie_name": "__Secure-session"},
    "secure-prefix-lowercase": {"cookie_name": "__secure-session"},
    "samesite-none-without-secure": {"same_site": "none"},
    "partitioned-without-secure": {"partitioned": True},
    "samesite-not-a-value": {"same_site": "sometimes"},
    "name-with-space": {"cookie_name": "my session"},
    "name-with-semicolon": {"cookie_name": "a;b"},
    "name-with-equals": {"cookie_name": "a=b"},
    "name-with-comma": {"cookie_name": "a,b"},
    "name-with-parenthesis": {"cookie_name": "(session)"},
    "name-with-quote": {"cookie_name": 'a"b'},
    "name-non-ascii": {"cookie_name": "séssion"},
    "name-with-newline": {"cookie_name": "session\r\nSet-Cookie: x=1"},
    "empty-name": {"cookie_name": ""},
    "path-with-semicolon": {"path": "/; Domain=evil.example"},
    "path-relative": {"path": "app"},
    "domain-with-semicolon": {"domain": "example.com; Secure"},
}


@pytest.mark.parametrize("options", REFUSED.values(), ids=REFUSED.keys())
def test_startup_refuses_a_cookie_policy_browsers_would_reject(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="cookie"):
        SessionMiddleware(Starlette(), secret_key=SECRET, store=SessionStore(), **options)


@pytest.mark.parametrize("max_age", [0, -1])
def test_a_max_age_of_zero_or_less_means_what_it_means_in_starlette(max_age: int) -> None:
    # Accepted for drop-in use, as "expire at once": Max-Age=0, and no cookie is ever honoured
    # (tests/compat/test_dropin.py replays one).
    middleware = SessionMiddleware(Starlette(), secret_key=SECRET, max_age=max_age)
    assert middleware.cookie.max_age == 0


ACCEPTED: dict[str, dict[str, Any]] = {
    "host-lax": {"cookie_name": "__Host-session", "https_only": True},
    "host-strict": {"cookie_name": "__Host-session", "https_only": True, "same_site": "strict"},
    "host-none-partitioned": {
        "cookie_name": "__Host-session",
        "https_only": True,
        "same_site": "none",
        "partitioned": True,
    },
    "secure-prefix-with-domain": {
        "cookie_name": "__Secure-session",
        "https_only": True,
        "domain": "example.com",
        "path": "/app",
    },
}


@pytest.mark.parametrize("options", ACCEPTED.values(), ids=ACCEPTED.keys())
async def test_a_valid_policy_is_sent_as_configured(real: Real, options: dict[str, Any]) -> None:
    app = build_app(SessionStore(real.counting), **options)
    name = options["cookie_name"]
    client = Client(app)
    reply = await client.post("/write", {"a": 1})
    attributes = reply.cookie_attributes(name)
    assert "secure" in attributes
    assert "httponly" in attributes
    assert attributes["samesite"] == options.get("same_site", "lax").capitalize()
    assert attributes["path"] == options.get("path", "/")
    assert attributes.get("domain") == options.get("domain")
    assert ("partitioned" in attributes) == options.get("partitioned", False)
    assert (await client.get()).json()["data"] == {"a": 1}
    # The expiring cookie carries the same attributes, or the browser would keep the old one.
    expired = (await client.post("/logout")).cookie_attributes(name)
    assert {k: v for k, v in expired.items() if k not in ("max-age", "expires")} == {
        k: v for k, v in attributes.items() if k != "max-age"
    }


def _production_app() -> Starlette:
    async def login(request: Request) -> Response:
        session = await load_session(request)
        session.regenerate()
        session["user"] = "alice"
        return JSONResponse(dict(session))

    async def read(request: Request) -> Response:
        return JSONResponse(dict(await load_session(request)))

    app = Starlette(routes=[Route("/login", login, methods=["POST"]), Route("/read", read)])
    app.add_middleware(
        SessionMiddleware,
        secret_key=SECRET,
        store=SessionStore(),
        cookie_name="__Host-session",
        https_only=True,
        same_site="lax",
    )
    return app


def test_the_test_client_needs_an_https_base_url_for_a_secure_cookie() -> None:
    # The recipe SECURITY.md gives: the production settings, unchanged, in tests.
    with TestClient(_production_app(), base_url="https://testserver") as client:
        assert client.post("/login").status_code == 200
        assert client.get("/read").json() == {"user": "alice"}
    # Over plain http the client keeps the Secure cookie but never sends it back.
    with TestClient(_production_app()) as client:
        assert "Secure" in client.post("/login").headers["set-cookie"]
        assert client.get("/read").json() == {}


# 15. Vary: Cookie, Cache-Control, the app's own cookies, exactly one session cookie.


async def _app_headers(request: Request) -> Response:
    session = await load_session(request)
    if "write" in request.query_params:
        session["written"] = True
    else:
        session.get("anything")
    response = JSONResponse({"ok": True})
    response.headers["Cache-Control"] = "public, max-age=3600"
    response.headers["Vary"] = "Accept-Encoding"
    response.set_cookie("theme", "dark")
    response.set_cookie("lang", "en")
    if "clash" in request.query_params:
        response.set_cookie("session", "set-by-the-app")
    return response


async def _untouched(request: Request) -> Response:
    response = JSONResponse({"ok": True})
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


def _headers_app(real: Real, **options: Any) -> SessionMiddleware:
    return build_app(
        SessionStore(real.counting),
        routes=[Route("/app-headers", _app_headers), Route("/untouched", _untouched)],
        **options,
    )


async def test_vary_cookie_whenever_the_session_was_accessed(real: Real) -> None:
    app = _headers_app(real)
    client = Client(app)
    read_only = await client.get("/read")
    assert read_only.header("vary") == "Cookie"
    assert read_only.header_list("set-cookie") == []
    merged = await client.get("/app-headers")
    assert merged.header("vary") == "Accept-Encoding, Cookie"
    written = await client.get("/app-headers", query=b"write=1")
    assert written.header("vary") == "Accept-Encoding, Cookie"
    assert (await client.post("/logout")).header("vary") == "Cookie"
    # A response that never touched the session does not vary on it.
    assert (await client.get("/plain")).header("vary") is None


async def test_no_store_on_every_response_that_sets_the_session_cookie(real: Real) -> None:
    app = _headers_app(real)
    client = Client(app)
    written = await client.get("/app-headers", query=b"write=1")
    assert written.session_cookie() is not None
    assert written.header("cache-control") == "no-store"  # the app's "public" must not survive
    logout = await client.post("/logout")
    assert logout.cookie_value() == ""
    assert logout.header("cache-control") == "no-store"
    # Responses that set no session cookie keep the app's caching.
    assert (await client.get("/app-headers")).header("cache-control") == "public, max-age=3600"
    assert (await client.get("/untouched")).header("cache-control") == "public, max-age=3600"


@pytest.mark.parametrize(
    ("setting", "expected"),
    [("private, no-cache", "private, no-cache"), (None, "public, max-age=3600")],
)
async def test_cache_control_is_configurable(
    real: Real, setting: str | None, expected: str
) -> None:
    app = _headers_app(real, cache_control=setting)
    reply = await Client(app).get("/app-headers", query=b"write=1")
    assert reply.session_cookie() is not None
    assert reply.header("cache-control") == expected


@pytest.mark.parametrize("clash", [False, True])
async def test_app_cookies_survive_and_exactly_one_session_cookie_is_sent(
    real: Real, clash: bool
) -> None:
    app = _headers_app(real)
    client = Client(app)
    query = b"write=1&clash=1" if clash else b"write=1"
    reply = await client.get("/app-headers", query=query)
    cookies = reply.header_list("set-cookie")
    assert any(cookie.startswith("theme=dark") for cookie in cookies)
    assert any(cookie.startswith("lang=en") for cookie in cookies)
    assert len(reply.session_cookies()) == 1
    assert app.signer.unsign(reply.cookie_value() or "") is not None  # ours, not the app's
    assert len(cookies) == 3
    # And when the session cookie is expired.
    logout = await client.post("/logout")
    assert len(logout.session_cookies()) == 1


# 16. Session ids come from the cookie only.


async def _read_form(request: Request) -> Response:
    await request.form()
    session = await load_session(request)
    return JSONResponse({"data": dict(session)})


async def _read_path(request: Request) -> Response:
    session = await load_session(request)
    return JSONResponse({"data": dict(session)})


async def test_session_id_is_never_read_from_query_form_path_or_other_headers(
    real: Real,
) -> None:
    app = build_app(
        SessionStore(real.counting),
        routes=[
            Route("/form", _read_form, methods=["POST"]),
            Route("/path/{session}", _read_path),
        ],
    )
    owner = Client(app)
    await owner.post("/write", {"secret": "data"})
    value = owner.cookie
    assert value is not None
    assert (await owner.get()).json()["data"] == {"secret": "data"}
    await real.reset_counts()
    encoded = value.encode()

    attempts = [
        ("GET", "/read", [], b"session=" + encoded, b""),
        ("GET", "/read", [], b"session_id=" + encoded + b"&sid=" + encoded, b""),
        ("GET", f"/path/{value}", [], b"", b""),
        (
            "POST",
            "/form",
            [(b"content-type", b"application/x-www-form-urlencoded")],
            b"",
            b"session=" + encoded,
        ),
        ("GET", "/read", [(b"session", encoded)], b"", b""),
        ("GET", "/read", [(b"x-session-id", encoded)], b"", b""),
        ("GET", "/read", [(b"x-session", encoded)], b"", b""),
        ("GET", "/read", [(b"authorization", b"Bearer " + encoded)], b"", b""),
        ("GET", "/read", [(b"cookie2", b"session=" + encoded)], b"", b""),
        ("GET", "/read", [(b"set-cookie", b"session=" + encoded)], b"", b""),
        ("GET", "/read", [(b"cookie", b"other=" + encoded)], b"", b""),
        ("GET", "/read", [(b"cookie", b"xsession=" + encoded)], b"", b""),
        ("GET", "/read", [(b"cookie", b"session_=" + encoded)], b"", b""),
        ("GET", "/read", [(b"cookie", b"Session=" + encoded)], b"", b""),
    ]
    for method, path, headers, query, body in attempts:
        reply = await asgi_request(app, method, path, headers=headers, query=query, body=body)
        assert reply.status == 200, (path, headers, query)
        assert reply.json()["data"] == {}, (path, headers, query)
    await real.assert_untouched()


# 17. Duplicate session cookies: the first one wins, always (SECURITY.md).


async def test_duplicate_session_cookies_are_resolved_deterministically(real: Real) -> None:
    app = build_app(SessionStore(real.counting))
    alice, bob = Client(app), Client(app)
    await alice.post("/login", {"user": "alice"})
    await bob.post("/login", {"user": "bob"})
    a, b = (alice.cookie or "").encode(), (bob.cookie or "").encode()
    garbage = b"forged.value.signature"

    cases = [
        ([(b"cookie", b"session=" + a + b"; session=" + b)], "alice"),
        ([(b"cookie", b"session=" + b + b"; session=" + a)], "bob"),
        ([(b"cookie", b"session=" + a + b"; session=" + garbage)], "alice"),
        # The first is not valid: it is not skipped in favour of a later, valid one.
        ([(b"cookie", b"session=" + garbage + b"; session=" + a)], None),
        ([(b"cookie", b"session=; session=" + a)], None),
        ([(b"cookie", b"theme=dark; session=" + a + b"; lang=en; session=" + b)], "alice"),
        # Several Cookie headers (HTTP/2 may split it): the first header's cookie wins.
        ([(b"cookie", b"session=" + a), (b"cookie", b"session=" + b)], "alice"),
        ([(b"cookie", b"theme=dark"), (b"cookie", b"session=" + b)], "bob"),
    ]
    for headers, expected in cases:
        users = {(await asgi_request(app, headers=headers)).json()["user"] for _ in range(20)}
        assert users == {expected}, headers


# SECURITY.md's production configuration, run as written.

SECURITY_MD = Path(__file__).resolve().parents[2] / "SECURITY.md"


def _production_block() -> str:
    text = SECURITY_MD.read_text()
    section = text.split("## Production configuration", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.mark.redis
def test_the_production_configuration_in_security_md_works(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On Redis only: the block is a Redis configuration, run as printed.
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("SESSION_SECRET_KEYS", f"{SECRET}\n{SECRET[::-1]}")
    namespace: dict[str, Any] = {"__name__": "security_md_production"}
    exec(compile(_production_block(), str(SECURITY_MD), "exec"), namespace)  # noqa: S102
    app = namespace["app"]
    credentials = {"username": "alice", "password": "correct horse battery staple"}

    # One client (its event loop owns the Redis connections), two devices' cookies.
    with TestClient(app, base_url="https://testserver") as client:
        devices: dict[str, str] = {}

        def call(device: str, method: str, path: str, **kwargs: Any) -> Any:
            client.cookies.clear()
            if device in devices:
                client.cookies.set("__Host-session", devices[device])
            response = client.request(method, path, **kwargs)
            if "__Host-session" in response.cookies:
                devices[device] = response.cookies["__Host-session"]
            return response

        wrong = {**credentials, "password": "guess"}
        assert call("laptop", "POST", "/login", json=wrong).status_code == 401
        login = call("laptop", "POST", "/login", json=credentials)
        header = login.headers["set-cookie"]
        assert header.startswith("__Host-session=")
        attributes = {part.strip().split("=")[0] for part in header.split(";")[1:]}
        assert {"Secure", "HttpOnly", "Path", "SameSite", "Max-Age"} <= attributes
        assert "Domain" not in attributes
        assert "SameSite=Lax" in header
        assert "Max-Age=43200" in header
        assert login.headers["cache-control"] == "no-store"
        assert call("laptop", "GET", "/me").json() == {"user": "alice"}
        call("phone", "POST", "/login", json=credentials)
        assert call("phone", "GET", "/me").json() == {"user": "alice"}

        ended = call("laptop", "POST", "/change-password").json()
        assert ended == {"other_sessions_ended": 1}
        assert call("phone", "GET", "/me").json() == {"user": None}
        assert call("laptop", "GET", "/me").json() == {"user": "alice"}

        call("laptop", "POST", "/logout")
        assert call("laptop", "GET", "/me").json() == {"user": None}


HOST_COOKIE = "__Host-session"


async def signed_in(app: SessionMiddleware, user: str) -> str:
    client = Client(app)
    await client.post("/login", {"user": user})
    assert client.cookie is not None
    return client.cookie


# A cookie hidden inside another cookie's value is never read (RFC 6265, 5.4: pairs
# separated by ``;``).


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


# A response that shows a session with data is not stored by caches or the browser's
# back/forward cache, and a log-out also clears what the browser kept. In a real browser:
# ``tests/browser/test_back_forward_cache.py``.


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


# ``Vary: Cookie`` only on responses whose session the application used, even when the
# middleware loads every session (the original API's ``autoload``).


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
