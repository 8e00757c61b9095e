"""docs_src/tutorial: each step of the tutorial page does what the page shows."""

from __future__ import annotations

import pytest
import redis
from starlette.testclient import TestClient

from tests.test_tutorial.conftest import LoadSample


def test_step1_counts_visits_in_a_signed_cookies_session(load_sample: LoadSample) -> None:
    sample = load_sample("docs_src.tutorial.step1")
    with TestClient(sample.app) as client:
        first = client.get("/")
        assert first.json() == {"visits": 1}
        cookie = first.headers["set-cookie"]
        assert cookie.startswith("session=")
        for attribute in ("HttpOnly", "SameSite=Lax", "Max-Age=1209600"):
            assert attribute in cookie
        second = client.get("/")
        assert second.json() == {"visits": 2}
        assert "set-cookie" not in second.headers  # the same session: nothing to resend
    with TestClient(sample.app) as stranger:  # no cookie: a session of its own
        assert stranger.get("/").json() == {"visits": 1}


def test_step2_saves_the_model_only_when_it_changed(load_sample: LoadSample) -> None:
    sample = load_sample("docs_src.tutorial.step2")
    with TestClient(sample.app) as client:
        empty = client.get("/cart")
        assert empty.json() == {"items": []}
        assert "set-cookie" not in empty.headers  # only read: no cookie
        assert client.post("/cart", params={"item": "apple"}).json() == {"items": ["apple"]}
        assert client.post("/cart", params={"item": "pear"}).json() == {"items": ["apple", "pear"]}
        assert client.get("/cart").json() == {"items": ["apple", "pear"]}
        assert client.post("/cart").status_code == 422  # FastAPI checks the query


def test_step3_log_in_changes_the_id_and_log_out_ends_the_session(
    load_sample: LoadSample,
) -> None:
    sample = load_sample("docs_src.tutorial.step3")
    with TestClient(sample.app) as client:
        client.post("/cart", params={"item": "apple"})
        before = client.cookies["session"]
        logged_in = client.post("/login", params={"user": "ann"})
        assert logged_in.json() == {"items": ["apple"], "user": "ann"}
        assert client.cookies["session"] != before  # a new id, the cart kept
        assert client.get("/cart").json() == {"items": ["apple"], "user": "ann"}
        after = client.cookies["session"]

        client.cookies.set("session", before)  # the cookie from before the log-in
        assert client.get("/cart").json() == {"items": [], "user": None}

        client.cookies.set("session", after)
        out = client.post("/logout")
        assert out.json() == {"status": "logged out"}
        assert "Max-Age=0" in out.headers["set-cookie"]
        assert out.headers["clear-site-data"] == '"cache"'
        client.cookies.set("session", after)  # a copy kept from before the log-out
        assert client.get("/cart").json() == {"items": [], "user": None}


@pytest.mark.redis
def test_step4_keeps_sessions_in_redis_across_restarts(
    load_sample: LoadSample, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    first = load_sample("docs_src.tutorial.step4")
    with TestClient(first.app) as client:
        client.post("/cart", params={"item": "apple"})
        client.post("/login", params={"user": "ann"})
        cookie = client.cookies["session"]
    # Another process (or the same one, restarted): a fresh import of the module.
    second = load_sample("docs_src.tutorial.step4")
    assert second.app is not first.app
    with TestClient(second.app) as client:
        client.cookies.set("session", cookie)
        assert client.get("/cart").json() == {"items": ["apple"], "user": "ann"}
        server = redis.Redis.from_url(redis_url)
        # The sessions (with the user index, session:user:...), each with its expiry.
        sessions = [k for k in server.keys("session:*") if b":user:" not in k]
        assert sessions
        assert all(0 < server.ttl(key) <= 14 * 24 * 60 * 60 for key in sessions)
        client.post("/logout")
        assert len([k for k in server.keys("session:*") if b":user:" not in k]) < len(sessions)
        client.cookies.set("session", cookie)
        assert client.get("/cart").json() == {"items": [], "user": None}
        server.close()
