"""Session-bound CSRF tokens over HTTP, on memory, Redis and SQLite.

A forged, garbled, replayed-from-another-session or pre-login token is refused with 403 and a
log line; tokens are masked differently in each response; a visitor without a session gets a
token (and a signed cookie of its own) without anything stored and without a backend call; a
signed-in session's secret is written once, with the session, and replaced at each log-in.
"""

from __future__ import annotations

import asyncio
import base64
import re
import secrets
from typing import Annotated, Any
from urllib.parse import urlencode

import pytest
from fastapi import Depends, FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from starlette_session import (
    CSRFProtection,
    SessionMiddleware,
    SessionStore,
    csrf_token,
    load_session,
    verify_csrf,
)
from starlette_session.backends import SessionBackend
from tests.security.conftest import SECRET, Client, CountingBackend, Reply, build_app

SECURITY_LOGGER = "starlette_session.security"


async def _form(request: Request) -> Response:
    return JSONResponse({"token": await csrf_token(request)})


async def _submit(request: Request) -> Response:
    await verify_csrf(request)
    return JSONResponse({"ok": True})


async def _protected_login(request: Request) -> Response:
    await verify_csrf(request)
    form = await request.form()
    user = str(form["user"])
    session = await load_session(request)
    await session.begin_login(user)
    session.regenerate()
    session.set_user(user)
    session["user"] = user
    return JSONResponse({"user": user})


ROUTES = [
    Route("/form", _form),
    Route("/submit", _submit, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
    Route("/protected-login", _protected_login, methods=["POST"]),
]


class Browser:
    """A client that keeps the session cookie and the CSRF cookie, as a browser does."""

    def __init__(self, app: Any) -> None:
        self.client = Client(app)
        self.csrf_cookie: str | None = None

    def _headers(self, extra: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        if self.csrf_cookie is None:
            return extra
        return [(b"cookie", f"session-csrf={self.csrf_cookie}".encode()), *extra]

    def _keep(self, reply: Reply) -> Reply:
        for header in reply.header_list("set-cookie"):
            if header.startswith("session-csrf="):
                self.csrf_cookie = header.split(";", 1)[0].partition("=")[2]
        return reply

    async def token(self) -> str:
        reply = self._keep(await self.client.get("/form", headers=self._headers([])))
        token: str = reply.json()["token"]
        return token

    async def post_form(self, path: str, fields: dict[str, str]) -> Reply:
        body = urlencode(fields).encode()
        headers = self._headers([(b"content-type", b"application/x-www-form-urlencoded")])
        return self._keep(
            await _raw(self.client, "POST", path, body=body, headers=headers),
        )

    async def send(self, method: str, path: str, token: str | None) -> Reply:
        extra = [] if token is None else [(b"x-csrf-token", token.encode())]
        return self._keep(await _raw(self.client, method, path, headers=self._headers(extra)))


async def _raw(
    client: Client,
    method: str,
    path: str,
    *,
    body: bytes = b"",
    headers: Any = (),
    query: bytes = b"",
) -> Reply:
    from tests.security.conftest import asgi_request

    sent = list(headers)
    if client.cookie is not None:
        sent.append((b"cookie", f"session={client.cookie}".encode()))
    reply = await asgi_request(client.app, method, path, headers=sent, body=body, query=query)
    value = reply.cookie_value()
    if value is not None:
        client.cookie = value or None
    return reply


@pytest.fixture
def app_and_calls(backend_with_sqlite: SessionBackend) -> tuple[Any, CountingBackend]:
    counting = CountingBackend(backend_with_sqlite)
    return build_app(SessionStore(counting), routes=ROUTES), counting


async def test_a_form_for_a_visitor_without_a_session_stores_nothing(
    app_and_calls: Any,
) -> None:
    app, counting = app_and_calls
    browser = Browser(app)
    token = await browser.token()
    assert counting.calls == []  # no backend call, nothing stored
    assert browser.client.cookie is None  # no session cookie either
    assert browser.csrf_cookie is not None
    assert (await browser.post_form("/submit", {"csrf_token": token})).status == 200
    assert (await browser.send("POST", "/submit", token)).status == 200
    assert counting.calls == []


async def test_tokens_are_masked_differently_in_each_response(app_and_calls: Any) -> None:
    app, _ = app_and_calls
    browser = Browser(app)
    tokens = {await browser.token() for _ in range(5)}
    assert len(tokens) == 5
    for token in tokens:
        assert (await browser.send("POST", "/submit", token)).status == 200


async def test_forged_garbled_and_missing_tokens_are_refused_with_a_log_line(
    app_and_calls: Any, caplog: pytest.LogCaptureFixture
) -> None:
    app, _ = app_and_calls
    browser = Browser(app)
    good = await browser.token()
    forged = base64.urlsafe_b64encode(secrets.token_bytes(64)).rstrip(b"=").decode()
    flipped = good[:-2] + ("A" if good[-2] != "A" else "B") + good[-1]
    caplog.set_level("WARNING", SECURITY_LOGGER)
    for token in (None, "", forged, flipped, good[:-1], good + "A", "é" * 86, good.upper()):
        reply = await browser.send("POST", "/submit", token)
        assert reply.status == 403, token
    assert (await browser.post_form("/submit", {"csrf_token": forged})).status == 403
    assert (await browser.post_form("/submit", {"other": good})).status == 403
    assert "CSRF token missing" in caplog.text
    assert "CSRF token invalid" in caplog.text
    assert good not in caplog.text
    assert (await browser.send("POST", "/submit", good)).status == 200


async def test_safe_methods_are_never_checked_and_every_unsafe_one_is(
    app_and_calls: Any,
) -> None:
    app, _ = app_and_calls
    browser = Browser(app)
    assert (await browser.send("GET", "/submit", None)).status == 200
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert (await browser.send(method, "/submit", None)).status == 403


async def test_a_token_of_another_visitor_is_refused(app_and_calls: Any) -> None:
    app, _ = app_and_calls
    mallory, victim = Browser(app), Browser(app)
    stolen = await mallory.token()
    await victim.token()  # the victim has a CSRF cookie of its own
    assert (await victim.send("POST", "/submit", stolen)).status == 403
    # Without any cookie, a token is worth nothing.
    assert (await Browser(app).send("POST", "/submit", stolen)).status == 403


async def test_a_forged_csrf_cookie_is_not_accepted(app_and_calls: Any) -> None:
    app, _ = app_and_calls
    attacker = Browser(app)
    token = await attacker.token()
    assert attacker.csrf_cookie is not None
    nonce = attacker.csrf_cookie.partition(".")[0]
    victim = Browser(app)
    victim.csrf_cookie = nonce + ".forged-signature"  # planted by a sibling subdomain
    assert (await victim.send("POST", "/submit", token)).status == 403
    victim.csrf_cookie = nonce  # no signature at all
    assert (await victim.send("POST", "/submit", token)).status == 403


async def test_the_log_in_form_is_protected_and_its_token_fails_after_the_log_in(
    app_and_calls: Any,
) -> None:
    app, counting = app_and_calls
    browser = Browser(app)
    assert (await browser.post_form("/protected-login", {"user": "ann"})).status == 403
    pre_login = await browser.token()
    reply = await browser.post_form("/protected-login", {"user": "ann", "csrf_token": pre_login})
    assert reply.status == 200
    assert (await browser.send("POST", "/submit", pre_login)).status == 403

    counting.calls.clear()
    token = await browser.token()  # the signed-in session's secret: written with the log-in
    assert counting.names() == ["read"]
    counting.calls.clear()
    again = await browser.token()
    assert "replace" not in counting.names()
    assert "create" not in counting.names()
    for signed_in in (token, again):
        assert (await browser.send("POST", "/submit", signed_in)).status == 200


async def test_a_token_of_another_signed_in_session_is_refused(app_and_calls: Any) -> None:
    app, _ = app_and_calls
    ann, bob = Browser(app), Browser(app)
    for browser, user in ((ann, "ann"), (bob, "bob")):
        token = await browser.token()
        await browser.post_form("/protected-login", {"user": user, "csrf_token": token})
    ann_token = await ann.token()
    await bob.token()
    assert (await bob.send("POST", "/submit", ann_token)).status == 403
    assert (await ann.send("POST", "/submit", ann_token)).status == 200

    # The same user on two devices: two sessions, two secrets.
    ann_phone = Browser(app)
    token = await ann_phone.token()
    await ann_phone.post_form("/protected-login", {"user": "ann", "csrf_token": token})
    assert (await ann_phone.send("POST", "/submit", ann_token)).status == 403


async def test_a_signed_in_token_fails_after_log_out(app_and_calls: Any) -> None:
    app, _ = app_and_calls
    browser = Browser(app)
    token = await browser.token()
    await browser.post_form("/protected-login", {"user": "ann", "csrf_token": token})
    signed_in = await browser.token()
    assert (await browser.client.post("/logout")).status == 200
    assert (await browser.send("POST", "/submit", signed_in)).status == 403


async def test_the_secret_is_never_in_the_data_and_data_cannot_set_it(app_and_calls: Any) -> None:
    app, _ = app_and_calls
    browser = Browser(app)
    token = await browser.token()
    await browser.post_form("/protected-login", {"user": "ann", "csrf_token": token})
    await browser.token()
    data = (await browser.client.get("/read")).json()["data"]
    assert data == {"user": "ann"}
    secret = bytes(16)
    planted = base64.urlsafe_b64encode(secret * 2).rstrip(b"=").decode()
    await browser.client.post("/write", {"x": planted})
    zero_token = base64.urlsafe_b64encode(bytes(64)).rstrip(b"=").decode()  # mask 0, secret 0
    assert (await browser.send("POST", "/submit", zero_token)).status == 403


CSRF = CSRFProtection(header_name="X-Token", field_name="token")


async def test_as_a_fastapi_dependency(backend_with_sqlite: SessionBackend) -> None:
    api = FastAPI()

    @api.get("/form")
    async def form(token: Annotated[str, Depends(CSRF.token)]) -> dict[str, str]:
        return {"token": token}

    @api.post("/submit", dependencies=[Depends(CSRF)])
    async def submit() -> dict[str, bool]:
        return {"ok": True}

    app = SessionMiddleware(api, secret_key=SECRET, store=SessionStore(backend_with_sqlite))
    browser = Browser(app)
    token = await browser.token()
    no_token = browser._headers([])
    assert (await _raw(browser.client, "POST", "/submit", headers=no_token)).status == 403
    headers = browser._headers([(b"x-token", token.encode())])
    reply = await _raw(browser.client, "POST", "/submit", headers=headers)
    assert reply.status == 200, reply.body
    body = urlencode({"token": token}).encode()
    headers = browser._headers([(b"content-type", b"application/x-www-form-urlencoded")])
    assert (await _raw(browser.client, "POST", "/submit", body=body, headers=headers)).status == 200
    assert re.fullmatch(r"[A-Za-z0-9_-]{86}", token)


async def test_two_tabs_rendering_forms_at_once_after_the_log_in_both_post(
    backend_with_sqlite: SessionBackend,
) -> None:
    """Right after a log-in, two tabs render a form at the same moment (both requests loaded
    the session before either saved it). If each made the signed-in secret on first use, the
    later write would replace the earlier one's secret and that tab's form would be refused."""
    loaded = [asyncio.Event(), asyncio.Event()]
    go = asyncio.Event()

    async def held_form(request: Request) -> Response:
        token = await csrf_token(request)
        loaded[int(request.query_params["tab"])].set()
        await go.wait()
        return JSONResponse({"token": token})

    routes = [*ROUTES, Route("/held-form", held_form)]
    app = build_app(SessionStore(backend_with_sqlite), routes=routes)
    browser = Browser(app)
    token = await browser.token()
    await browser.post_form("/protected-login", {"user": "ann", "csrf_token": token})
    tabs = []
    for tab in (b"0", b"1"):
        headers = browser._headers([])
        tabs.append(
            asyncio.create_task(
                _raw(browser.client, "GET", "/held-form", headers=headers, query=b"tab=" + tab)
            )
        )
    await asyncio.gather(*(event.wait() for event in loaded))
    go.set()
    for task in tabs:
        reply = await task
        assert reply.status == 200
        assert (await browser.send("POST", "/submit", reply.json()["token"])).status == 200


async def test_hostile_tokens_bodies_and_csrf_cookies_are_refused_never_a_500(
    app_and_calls: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Tokens of every length and alphabet, in the header and in a form (URL-encoded and
    multipart, malformed too), and planted CSRF cookies of every shape: 403 (or 400 for a body
    that is not a form), never a 500, and no token or cookie in a log line."""
    app, _ = app_and_calls
    browser = Browser(app)
    good = await browser.token()
    caplog.set_level("WARNING")
    bad_tokens = [
        "=" * 86,
        "A" * 86,
        good[:85] + "=",
        good[:85] + "\u00e9",
        "\u00ff" * 86,
        " " + good[1:],
        good.replace("-", "+").replace("_", "/") if ("-" in good or "_" in good) else "+" * 86,
        "A" * 10_000,
        "\x00" * 86,
    ]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    spare_bits = good[:-1] + alphabet[alphabet.index(good[-1]) + 1]  # the same 64 bytes
    bad_tokens += [spare_bits, *("A" * length for length in range(0, 130, 7))]
    for token in bad_tokens:
        headers = browser._headers([(b"x-csrf-token", token.encode("latin-1"))])
        reply = await _raw(browser.client, "POST", "/submit", headers=headers)
        assert reply.status == 403, token
        body = urlencode({"csrf_token": token}).encode()
        form = browser._headers([(b"content-type", b"application/x-www-form-urlencoded")])
        reply = await _raw(browser.client, "POST", "/submit", body=body, headers=form)
        assert reply.status == 403, token
    for content_type, body in (
        (b"multipart/form-data", b"garbage"),
        (b"multipart/form-data; boundary=x", b"--x\r\ngarbage"),
        (b"application/x-www-form-urlencoded", b"%zz=%%&csrf_token"),
        (b"application/x-www-form-urlencoded", b"\xff\xfe" * 1000),
    ):
        headers = browser._headers([(b"content-type", content_type)])
        reply = await _raw(browser.client, "POST", "/submit", body=body, headers=headers)
        assert reply.status in (400, 403), (content_type, reply.status)
    victim = Browser(app)
    assert browser.csrf_cookie is not None
    for planted in (
        "",
        ".",
        "..",
        "a.b.c",
        "\u00e9.\u00e9",
        "x" * 5000,
        browser.csrf_cookie + "x",
        f"{browser.csrf_cookie}.{browser.csrf_cookie}",
    ):
        victim.csrf_cookie = planted
        headers = victim._headers([(b"x-csrf-token", good.encode())])
        sent = [(name, value.decode().encode("utf-8")) for name, value in headers]
        reply = await _raw(victim.client, "POST", "/submit", headers=sent)
        assert reply.status == 403, planted
        assert (await _raw(victim.client, "GET", "/form", headers=sent)).status == 200
    assert good not in caplog.text
    assert browser.csrf_cookie not in caplog.text
    assert (await browser.send("POST", "/submit", good)).status == 200


async def test_a_refusal_log_line_cannot_be_forged_from_the_path(
    backend_with_sqlite: SessionBackend, caplog: pytest.LogCaptureFixture
) -> None:
    """A path parameter may hold control characters (``%1B``, a terminal's escape; newlines
    Starlette's URL drops): the refusal logs them escaped."""
    routes = [Route("/items/{name}", _submit, methods=["POST"])]
    app = build_app(SessionStore(backend_with_sqlite), routes=routes)
    caplog.set_level("WARNING", SECURITY_LOGGER)
    reply = await _raw(Client(app), "POST", "/items/x\x1b[2J\x1b[1A\x00")
    assert reply.status == 403
    messages = [r.getMessage() for r in caplog.records if r.name == SECURITY_LOGGER]
    assert len(messages) == 1
    assert messages[0].isprintable()


async def test_a_form_is_read_whatever_the_case_of_its_content_type(app_and_calls: Any) -> None:
    """Media types are case-insensitive: a client that writes ``Application/X-WWW-Form-
    Urlencoded`` or ``Multipart/Form-Data`` sends a form like any other."""
    app, _ = app_and_calls
    browser = Browser(app)
    token = await browser.token()
    body = urlencode({"csrf_token": token}).encode()
    for content_type in (
        b"Application/X-WWW-Form-Urlencoded; charset=UTF-8",
        b"APPLICATION/X-WWW-FORM-URLENCODED",
    ):
        headers = browser._headers([(b"content-type", content_type)])
        reply = await _raw(browser.client, "POST", "/submit", body=body, headers=headers)
        assert reply.status == 200, content_type
    multipart = (
        b"--b\r\nContent-Disposition: form-data; name=csrf_token\r\n\r\n"
        + token.encode()
        + b"\r\n--b--\r\n"
    )
    headers = browser._headers([(b"content-type", b"Multipart/Form-Data; boundary=b")])
    reply = await _raw(browser.client, "POST", "/submit", body=multipart, headers=headers)
    assert reply.status == 200
