"""docs_src/encryption: an app whose sessions are sealed, key rotation through the
environment, and the migration steps on and off without a log-out."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.testclient import TestClient

from starlette_session import generate_key, load_session
from starlette_session.backends import MemoryBackend
from starlette_session.encryption import MAGIC
from starlette_session.testing import SessionTester, find_session_middleware
from tests.test_tutorial.conftest import LoadSample

pytest.importorskip("cryptography")

OLD, NEW = f"k1:{generate_key()}", f"k2:{generate_key()}"


async def remember(request: Request) -> JSONResponse:
    session = await load_session(request)
    session.update(request.query_params)
    return JSONResponse(dict(session))


def serve(load_sample: LoadSample, name: str, backend: MemoryBackend) -> Any:
    """The sample ``name`` as loaded now (its environment), over the shared ``backend``."""
    app = load_sample(name).app
    app.add_route("/remember", remember, methods=["POST"])
    find_session_middleware(app).store.backend = backend  # one store, as in production
    return app


def test_the_app_seals_and_rotates_keys(
    load_sample: LoadSample, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = MemoryBackend()
    monkeypatch.setenv("SESSION_ENCRYPTION_KEYS", OLD)
    with TestClient(serve(load_sample, "docs_src.encryption.app", backend)) as client:
        client.post("/remember", params={"card": "4111"})
        stored = SessionTester(client).stored()
        assert stored is not None
        assert stored.startswith(MAGIC + b"\x02k1")
        assert b"4111" not in stored
        cookie = client.cookies["session"]
    # Rotation: the new key first; the old one still opens; the next write seals anew.
    monkeypatch.setenv("SESSION_ENCRYPTION_KEYS", f"{NEW} {OLD}")
    app = serve(load_sample, "docs_src.encryption.app", backend)
    with TestClient(app, cookies={"session": cookie}) as client:
        assert client.post("/remember").json() == {"card": "4111"}
        client.post("/remember", params={"theme": "dark"})
        assert (SessionTester(client).stored() or b"").startswith(MAGIC + b"\x02k2")
    monkeypatch.setenv("SESSION_ENCRYPTION_KEYS", NEW)  # the old key removed
    app = serve(load_sample, "docs_src.encryption.app", backend)
    with TestClient(app, cookies={"session": cookie}) as client:
        assert client.post("/remember").json() == {"card": "4111", "theme": "dark"}


def test_switching_on_and_off_logs_nobody_out(
    load_sample: LoadSample, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = MemoryBackend()
    monkeypatch.setenv("SESSION_ENCRYPTION_KEYS", OLD)
    cookies: dict[str, str] = {}

    def step(name: str, params: dict[str, str] | None = None) -> tuple[Any, bytes]:
        monkeypatch.setenv("SESSION_ENCRYPTION", name)
        app = serve(load_sample, "docs_src.encryption.migration", backend)
        with TestClient(app, cookies=cookies) as client:
            data = client.post("/remember", params=params).json()
            cookies.update(client.cookies)
            return data, SessionTester(client).stored() or b""

    assert step("off", {"cart": "tea"})[0] == {"cart": "tea"}
    data, stored = step("migrating")
    assert data == {"cart": "tea"}
    assert stored.startswith(b"{")
    data, stored = step("migrating", {"theme": "dark"})
    assert stored.startswith(MAGIC)  # written: sealed
    assert step("on")[0] == {"cart": "tea", "theme": "dark"}
    data, stored = step("leaving", {"theme": "light"})
    assert data == {"cart": "tea", "theme": "light"}
    assert stored.startswith(b"{")
    assert step("off")[0] == {"cart": "tea", "theme": "light"}


def test_a_plain_session_is_refused_once_the_migration_is_finished(
    load_sample: LoadSample, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = MemoryBackend()
    monkeypatch.setenv("SESSION_ENCRYPTION_KEYS", OLD)
    monkeypatch.setenv("SESSION_ENCRYPTION", "off")
    with TestClient(serve(load_sample, "docs_src.encryption.migration", backend)) as client:
        client.post("/remember", params={"cart": "tea"})
        cookie = client.cookies["session"]
    monkeypatch.setenv("SESSION_ENCRYPTION", "on")
    app = serve(load_sample, "docs_src.encryption.migration", backend)
    with TestClient(app, cookies={"session": cookie}) as client:
        assert client.post("/remember").json() == {}
