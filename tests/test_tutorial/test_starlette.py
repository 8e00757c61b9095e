"""docs_src/starlette: sessions in a plain Starlette app."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.test_tutorial.conftest import LoadSample


def test_visits_are_counted_and_forgotten(load_sample: LoadSample) -> None:
    sample = load_sample("docs_src.starlette.app")
    with TestClient(sample.app) as client:
        assert client.get("/peek").json() == {}
        assert "session" not in client.cookies
        assert client.post("/visit").json() == {"visits": 1}
        assert client.post("/visit").json() == {"visits": 2}
        assert client.get("/peek").json() == {"visits": 2}  # the sync endpoint loads it
        client.post("/forget")
        assert "session" not in client.cookies
        assert client.post("/visit").json() == {"visits": 1}


def test_autoload_loads_before_the_endpoint(load_sample: LoadSample) -> None:
    sample = load_sample("docs_src.starlette.autoload")
    with TestClient(sample.app) as client:
        assert client.get("/", params={"name": "Ann"}).text == "Hello, stranger!"
        assert client.get("/").text == "Hello, Ann!"
