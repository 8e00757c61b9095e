"""docs_src/web_security: flash messages, CSRF tokens, "confirm your password", the user cap
and the cross-origin check, as docs/web-security.md shows them."""

from __future__ import annotations

import re
import time

import pytest
from starlette.testclient import TestClient

from tests.test_tutorial.conftest import LoadSample


def token_in(html: str) -> str:
    found = re.search(r'name=csrf_token value="([^"]+)"', html)
    assert found is not None, html
    return found.group(1)


def log_in(client: TestClient, password: str = "wonderland") -> str:  # noqa: S107 - a demo
    token = token_in(client.get("/login").text)
    data = {"user": "ann", "password": password, "csrf_token": token}
    return client.post("/login", data=data).text


def test_the_fastapi_app(load_sample: LoadSample, monkeypatch: pytest.MonkeyPatch) -> None:
    app = load_sample("docs_src.web_security.app").app
    with TestClient(app) as client:
        first = client.get("/login")
        assert "session" not in first.cookies  # nothing stored for the form
        assert "session-csrf" in first.cookies
        assert client.post("/login", data={"user": "ann", "password": "x"}).status_code == 403

        assert "Wrong user name or password." in log_in(client, "nope")
        assert "Wrong user name" not in client.get("/login").text  # shown once
        home = log_in(client)
        assert "Welcome, ann!" in home
        assert "Hello ann" in home
        assert "Welcome" not in client.get("/").text

        assert client.get("/billing").text.startswith("Billing of ann")
        later = time.time() + 301
        monkeypatch.setattr(time, "time", lambda: later)
        confirm = client.get("/billing")
        assert confirm.url.path == "/confirm"
        token = token_in(confirm.text)
        wrong = client.post("/confirm", data={"password": "x", "csrf_token": token})
        assert "Wrong password." in wrong.text
        right = client.post("/confirm", data={"password": "wonderland", "csrf_token": token})
        assert right.text.startswith("Billing of ann")

        cross_site = {"sec-fetch-site": "cross-site", "origin": "https://evil.example"}
        refused = client.post("/confirm", data={"csrf_token": token}, headers=cross_site)
        assert refused.status_code == 403


def test_the_fastapi_apps_user_cap(load_sample: LoadSample) -> None:
    app = load_sample("docs_src.web_security.app").app
    with TestClient(app) as lifespan:
        for _ in range(5):
            with TestClient(lifespan.app) as device:
                assert "Welcome, ann!" in log_in(device)
        with TestClient(lifespan.app) as sixth:
            assert "Signed in on too many devices" in log_in(sixth)


def test_the_starlette_app(load_sample: LoadSample, monkeypatch: pytest.MonkeyPatch) -> None:
    app = load_sample("docs_src.web_security.starlette_app").app
    with TestClient(app) as client:
        form = client.get("/form").json()
        assert form["messages"] == []
        assert client.post("/save").status_code == 403
        saved = client.post("/save", data={"csrf_token": form["csrf_token"]}).json()
        assert saved["messages"] == ["Saved."]
        header = {"x-csrf-token": client.get("/form").json()["csrf_token"]}
        assert client.delete("/account", headers=header).status_code == 401
        client.post("/login", headers=header)
        header = {"x-csrf-token": client.get("/form").json()["csrf_token"]}
        assert client.delete("/account", headers=header).status_code == 403  # a password
