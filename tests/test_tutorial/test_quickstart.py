"""docs_src/quickstart: the FastAPI app of the quick start (and the README), and its tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.test_tutorial.conftest import LoadSample

ROOT = Path(__file__).resolve().parents[2]


def test_the_cart_is_saved_and_survives_log_in(load_sample: LoadSample) -> None:
    sample = load_sample("docs_src.quickstart.app")
    with TestClient(sample.app) as client:
        first = client.get("/cart")
        assert first.json() == {"items": [], "owner": None}
        assert "set-cookie" not in first.headers  # a visitor who changed nothing gets no cookie
        assert client.post("/cart", params={"item": "apple"}).json()["items"] == ["apple"]
        anonymous = client.cookies["session"]

        logged_in = client.post("/login", params={"user": "ann"}).json()

        assert logged_in == {"items": ["apple"], "owner": "ann"}
        assert client.cookies["session"] != anonymous
        assert client.get("/cart").json() == logged_in
        client.post("/logout")
        assert "session" not in client.cookies
        client.cookies.set("session", anonymous)  # the pre-log-in cookie is worth nothing
        assert client.get("/cart").json() == {"items": [], "owner": None}


def test_the_sample_tests_pass(load_sample: LoadSample, monkeypatch: pytest.MonkeyPatch) -> None:
    # test_app.py imports its app as pytest finds it, beside it: `from app import ...`.
    monkeypatch.syspath_prepend(str(ROOT / "docs_src" / "quickstart"))
    tests = load_sample("docs_src.quickstart.test_app")
    tests.test_adding_to_a_seeded_cart()
    tests.test_log_in_keeps_the_cart_under_a_new_id()
