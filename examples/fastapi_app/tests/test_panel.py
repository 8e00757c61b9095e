"""The "your session" panel on every page: backend, session or not, expiry, the rotation at
log-in (as fingerprints, never the id) and the user's active sessions with a revoke button."""

from __future__ import annotations

import re

from fastapi import FastAPI
from starlette.testclient import TestClient

from examples.fastapi_app.panel import fingerprint
from starlette_session.testing import find_session_middleware

ALICE = {"username": "alice", "password": "wonderland"}


def panel(page: str) -> str:
    match = re.search(r'<section class="card panel".*?</section>', page, flags=re.DOTALL)
    assert match, "no panel on the page"
    return match.group(0)


def fingerprints(html: str) -> list[str]:
    return re.findall(r'<span class="fingerprint"[^>]*>#([0-9a-f]{8})</span>', html)


def store_key(app: FastAPI, cookie: str) -> str:
    middleware = find_session_middleware(app)
    unsigned = middleware.signer.unsign(cookie)
    assert unsigned is not None
    return middleware.store.storage_key(unsigned.payload, unsigned.key_index)


def test_a_new_visitor_has_no_session_yet(client: TestClient, app: FastAPI) -> None:
    for path in ("/", "/login"):
        html = panel(client.get(path).text)
        assert "none yet" in html
        assert "Your active sessions" not in html
    backend = type(find_session_middleware(app).store.backend).__name__
    expected = {
        "MemoryBackend": "memory (this process",
        "RedisBackend": "Redis",
        "SQLBackend": "SQLite file (kept across restarts)",
    }[backend]
    assert expected in html
    assert "session" not in client.cookies


def test_a_session_shows_its_fingerprint_and_expiry(client: TestClient, app: FastAPI) -> None:
    html = panel(client.post("/cart/add", data={"product": "tea"}).text)
    cookie = client.cookies["session"]
    assert fingerprints(html) == [fingerprint(store_key(app, cookie))]
    session_id = cookie.split(".")[0]
    assert session_id not in html
    assert cookie not in html
    expiry = re.sub(r"\s+", " ", html.split('id="panel-expiry">', 1)[1].split("</dd>", 1)[0])
    assert "in 1 d</time> without a visit" in expiry
    assert "in 7 d</time> at the latest" in expiry


def test_log_in_shows_the_rotation_and_the_active_sessions(
    client: TestClient, app: FastAPI
) -> None:
    client.post("/cart/add", data={"product": "tea"})
    before = fingerprint(store_key(app, client.cookies["session"]))

    html = panel(client.post("/login", data=ALICE).text)

    after = fingerprint(store_key(app, client.cookies["session"]))
    assert before != after
    rotation = html.split('id="panel-rotation">', 1)[1].split("</dd>", 1)[0]
    assert fingerprints(rotation) == [before, after]
    sessions = html.split('id="panel-sessions">', 1)[1].split("</ul>", 1)[0]
    assert fingerprints(sessions) == [after]
    assert "(this browser)" in sessions
    assert "revoke-others" not in html  # nothing else to log out


def test_log_out_the_other_sessions(client: TestClient) -> None:
    # One client (its event loop owns the Redis connections), two devices' cookie jars.
    client.post("/login", data=ALICE)
    laptop = client.cookies["session"]
    client.cookies.clear()
    client.post("/login", data=ALICE)
    phone = client.cookies["session"]
    client.cookies.clear()
    client.cookies.set("session", laptop)
    html = panel(client.get("/").text)
    assert len(fingerprints(html.split('id="panel-sessions">', 1)[1])) == 2
    assert 'id="revoke-others"' in html

    page = client.post("/sessions/revoke-others").text

    assert "Logged out 1 other session." in page
    assert "(this browser)" in panel(page)
    assert len(fingerprints(panel(page).split('id="panel-sessions">', 1)[1])) == 1
    assert "Signed in as <strong>alice</strong>" in client.get("/").text
    client.cookies.clear()
    client.cookies.set("session", phone)
    assert "Signed in as" not in client.get("/").text  # the phone's session has ended


def test_revoking_needs_a_log_in(client: TestClient) -> None:
    response = client.post("/sessions/revoke-others", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/login")
