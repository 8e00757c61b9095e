"""docs_src/fastapi: the samples of the FastAPI page, on memory and on a real redis-server."""

from __future__ import annotations

from collections import Counter

import pytest
from starlette.testclient import TestClient

from starlette_session.testing import SessionTester
from tests.http_support import RedisCommands
from tests.test_tutorial.conftest import LoadSample


@pytest.mark.redis
def test_redis_app_costs_one_read_and_one_compare_and_set(
    load_sample: LoadSample, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    sample = load_sample("docs_src.fastapi.redis_app")
    commands = RedisCommands(redis_url)
    with TestClient(sample.app) as client:
        client.post("/cart", params={"item": "tea"})
        assert commands.delta() == Counter({"set": 1})  # a new session: SET NX
        client.post("/cart", params={"item": "jam"})  # the first also loads the Lua script
        commands.delta()
        assert client.post("/cart", params={"item": "fig"}).json() == {
            "items": ["tea", "jam", "fig"]
        }
        # GETEX, then EVALSHA of the compare-and-set script (which runs a GET and a SET).
        assert commands.delta() == Counter({"getex": 1, "evalsha": 1, "get": 1, "set": 1})
        assert client.get("/cart").json() == {"items": ["tea", "jam", "fig"]}
        assert commands.delta() == Counter({"getex": 1})
    assert len(commands.keys()) == 1
    commands.close()


def test_migrate_converts_old_data(load_sample: LoadSample) -> None:
    sample = load_sample("docs_src.fastapi.migrate")
    with TestClient(sample.app) as client:
        sessions = SessionTester(client)
        sessions.seed({"items": "apple,pear"})  # what release 1 stored
        assert client.get("/cart").json() == {"items": ["apple", "pear"]}
        assert sessions.read() == {"items": ["apple", "pear"]}  # saved converted
        sessions.seed({"items": 42})  # not convertible: a fresh session
        assert client.get("/cart").json() == {"items": []}


def test_a_renamed_field_reads_both_names(load_sample: LoadSample) -> None:
    sample = load_sample("docs_src.fastapi.renamed_field")
    assert sample.Cart.model_validate({"products": ["tea"]}).items == ["tea"]
    assert sample.Cart.model_validate({"items": ["jam"]}).model_dump() == {"items": ["jam"]}


def test_two_models_share_one_session(load_sample: LoadSample) -> None:
    sample = load_sample("docs_src.fastapi.several_models")
    with TestClient(sample.app) as client:
        sessions = SessionTester(client)
        client.post("/cart", params={"item": "tea"})
        client.post("/cart", params={"item": "jam"})
        client.post("/checkout")
        assert sessions.read() == {
            "items": [],
            "messages": ["Thank you! 2 items are on their way."],
        }
        assert client.get("/messages").json() == ["Thank you! 2 items are on their way."]
        assert client.get("/messages").json() == []


def test_log_in_remember_me_log_out_others_and_log_out(load_sample: LoadSample) -> None:
    sample = load_sample("docs_src.fastapi.login")
    ann = {"user": "ann", "password": "correct horse battery staple"}
    with TestClient(sample.app) as laptop, TestClient(sample.app) as phone:
        assert laptop.post("/login", json={**ann, "password": "guess"}).status_code == 401
        assert "session" not in laptop.cookies

        plain = laptop.post("/login", json=ann)
        assert "Max-Age=1209600" in plain.headers["set-cookie"]  # the middleware's 14 days
        remembered = phone.post("/login", json={**ann, "remember": True})
        assert "Max-Age=2592000" in remembered.headers["set-cookie"]  # 30 days
        assert phone.get("/me").json() == {"user": "ann"}

        assert laptop.post("/logout-others").json() == {"ended": 1}
        assert phone.get("/me").json() == {"user": None}  # the phone's session was ended
        assert laptop.get("/me").json() == {"user": "ann"}

        assert laptop.post("/logout").status_code == 204
        assert laptop.get("/me").json() == {"user": None}
        assert laptop.post("/logout-others").status_code == 401


def test_a_websocket_reads_the_session_of_its_handshake(load_sample: LoadSample) -> None:
    sample = load_sample("docs_src.fastapi.websocket")
    with TestClient(sample.app) as client:
        with client.websocket_connect("/ws") as websocket:
            assert websocket.receive_text() == "hello, stranger"
        client.post("/login", params={"user": "ann"})
        with client.websocket_connect("/ws") as websocket:
            assert websocket.receive_text() == "hello, ann"
