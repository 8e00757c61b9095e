"""The cookie backend's limits, stated and enforced: it cannot detect concurrent changes, so
``strict=True`` is refused at start-up, and two tabs changing one session keep the change of the
response that arrived last (documented in docs/backends.md and next to the README's claim)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from starlette_session import SessionMiddleware, SessionSetupError, SessionStore
from starlette_session.backends import CookieBackend, MemoryBackend
from tests.helpers import SECRET, make_app, session_cookie

BASE = "http://testserver"


def test_strict_is_refused_with_the_cookie_backend_at_start_up() -> None:
    store: SessionStore[Any] = SessionStore(CookieBackend(), strict=True)
    with pytest.raises(SessionSetupError, match="strict=True needs a server-side backend"):
        SessionMiddleware(make_app(SessionStore()), secret_key=SECRET, store=store)


def test_strict_with_the_cookie_backend_fails_an_app_before_its_first_request() -> None:
    # Through add_middleware: Starlette builds the middleware when the app starts.
    app = make_app(SessionStore(CookieBackend(), strict=True))
    with pytest.raises(SessionSetupError, match="cookie backend"), TestClient(app):
        pass


def test_strict_is_accepted_with_a_server_side_backend() -> None:
    app = make_app(SessionStore(MemoryBackend(), strict=True))
    with TestClient(app) as client:
        assert client.get("/set", params={"a": "1"}).json() == {"a": "1"}


async def test_two_tabs_changing_one_cookie_session_keep_the_last_response_only() -> None:
    """The documented limit: each response's cookie replaces the whole session, so of two
    concurrent changes to different keys the browser keeps the one whose response came last."""
    app = make_app(SessionStore(CookieBackend()))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        first = await http.get("/set", params={"start": "1"})
        cookie = session_cookie(first)
        assert cookie is not None
        headers = {"cookie": f"session={cookie}"}
        http.cookies.clear()  # each tab sends the cookie both loaded
        tab_a = await http.get("/set", params={"a": "1"}, headers=headers)
        http.cookies.clear()
        tab_b = await http.get("/set", params={"b": "2"}, headers=headers)
        assert tab_a.status_code == tab_b.status_code == 200
        last = session_cookie(tab_b)
        assert last is not None
        http.cookies.clear()
        after = await http.get("/get", headers={"cookie": f"session={last}"})
        assert after.json() == {"start": "1", "b": "2"}  # tab A's change is gone
