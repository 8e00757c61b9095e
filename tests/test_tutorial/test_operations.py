"""docs_src/operations: events, OpenTelemetry, active sessions and WebSocket samples."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from fastapi import Request
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from starlette_session import SessionHandle, load_session
from starlette_session.testing import find_session_middleware
from tests.test_tutorial.conftest import LoadSample


async def login(request: Request) -> None:
    session = await load_session(request)
    session.regenerate()
    await session.begin_login(request.query_params["user"])
    session.set_user(request.query_params["user"])
    session["user"] = request.query_params["user"]


async def logout(session: SessionHandle) -> None:
    session.destroy()


def test_events_audit_log_ins_and_count_forged_cookies(
    load_sample: LoadSample, caplog: pytest.LogCaptureFixture
) -> None:
    sample = load_sample("docs_src.operations.events")
    sample.app.add_api_route("/login", login, methods=["POST"])
    sample.app.add_api_route("/logout", logout, methods=["POST"])
    caplog.set_level(logging.INFO, logger="shop.audit")
    with TestClient(sample.app) as client:
        client.post("/login", params={"user": "ann"})
        client.post("/logout")
        client.cookies.set("session", "not.a.signature")
        client.post("/logout")
    assert [record.getMessage() for record in caplog.records if record.name == "shop.audit"] == [
        "session destroyed: user=ann reason=destroy",
    ]
    assert sample.tampered == {"signature": 1}


def test_telemetry_instruments_the_store(load_sample: LoadSample) -> None:
    pytest.importorskip("opentelemetry.sdk")
    sample = load_sample("docs_src.operations.telemetry")
    sample.app.add_api_route("/login", login, methods=["POST"])
    with TestClient(sample.app) as client:
        assert client.post("/login", params={"user": "ann"}).status_code == 200
    assert sample.store.events.observed


def test_active_sessions_list_and_revoke(load_sample: LoadSample) -> None:
    sample = load_sample("docs_src.operations.active_sessions")
    with TestClient(sample.app, headers={"user-agent": "Laptop"}) as client:
        client.post("/login", params={"user": "ann"})
        laptop = client.cookies["session"]
        client.cookies.clear()
        client.post("/login", params={"user": "ann"}, headers={"user-agent": "Phone"})
        phone = client.cookies["session"]
        client.cookies.clear()
        client.post("/login", params={"user": "bob"})
        bob = client.get("/sessions").json()[0]["key"]

        client.cookies.set("session", laptop)
        sessions = client.get("/sessions").json()
        assert sorted((info["user_agent"], info["current"]) for info in sessions) == [
            ("Laptop", True),
            ("Phone", False),
        ]
        phone_key = next(info["key"] for info in sessions if not info["current"])
        assert client.post("/sessions/revoke", params={"key": bob}).status_code == 404
        assert client.post("/sessions/revoke", params={"key": phone_key}).status_code == 200
        assert [info["user_agent"] for info in client.get("/sessions").json()] == ["Laptop"]

        client.cookies.set("session", phone)
        assert client.get("/sessions").status_code == 401  # the phone is signed out


def test_websocket_saves_and_closes_after_a_log_out(load_sample: LoadSample) -> None:
    sample = load_sample("docs_src.operations.websocket")
    sample.app.add_api_route("/logout", logout, methods=["POST"])
    with TestClient(sample.app) as client:
        client.post("/notes", params={"note": "milk"})
        with client.websocket_connect("/ws") as socket:
            socket.send_text("eggs")
            assert socket.receive_json() == {"notes": ["milk", "eggs"]}
            assert client.post("/notes", params={"note": "bread"}).json() == {
                "notes": ["milk", "eggs", "bread"]
            }
            socket.send_text("jam")
            assert socket.receive_json() == {"notes": ["milk", "eggs", "bread", "jam"]}

            client.post("/logout")
            socket.send_text("tea")
            with pytest.raises(WebSocketDisconnect) as closed:
                socket.receive_json()
            assert closed.value.code == 4401
    store = find_session_middleware(sample.app).store
    assert store.backend is not None


def test_live_feed_and_stream_end_with_the_session(load_sample: LoadSample) -> None:
    sample = load_sample("docs_src.operations.live")
    with TestClient(sample.app) as client:
        client.post("/login", params={"user": "ann"})
        with client.websocket_connect("/feed") as socket:
            socket.send_text("hi")
            assert socket.receive_json() == {"user": "ann", "text": "hi"}
            cookie = client.cookies["session"]
            client.post("/logout")
            assert socket.receive_json() == {"event": "signed-out", "reason": "ended"}
            with pytest.raises(WebSocketDisconnect) as closed:
                socket.receive_json()
            assert closed.value.code == 4401
        client.cookies.clear()
        client.post("/login", params={"user": "ann"})
        cookie = client.cookies["session"]
        body: list[str] = []
        reader = threading.Thread(
            target=lambda: body.append(
                client.get("/events", headers={"cookie": f"session={cookie}"}).text
            )
        )
        reader.start()
        store = find_session_middleware(sample.app).store
        deadline = time.monotonic() + 5
        while len(store.live) == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        client.post("/logout", headers={"cookie": f"session={cookie}"})
        reader.join(5)
        assert body
        assert body[0].startswith("data: tick 0")
        assert body[0].endswith("event: signed-out\ndata: \n\n")
