"""The signing key: SESSION_SECRET, else a development key kept in a file, and the warning when
that key is used beyond this machine."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from examples.fastapi_app.main import create_app
from examples.fastapi_app.secret import is_loopback, session_secret
from examples.fastapi_app.tests.conftest import ShopClient
from starlette_session.testing import find_session_middleware

SECRET = "example-secret-tests-0123456789abcdefghijklmnop"


@pytest.fixture
def key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / ".session-secret"
    monkeypatch.setenv("SESSION_SECRET_FILE", str(path))
    monkeypatch.delenv("SESSION_SECRET", raising=False)
    return path


def test_the_development_key_is_made_once_and_kept(key_file: Path) -> None:
    first = session_secret()
    assert key_file.read_text().strip() == first.value
    assert len(first.value) >= 32
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert session_secret() == first
    assert first.is_development_key
    assert first.value not in repr(first)


def test_a_restarted_app_keeps_verifying_the_cookies_it_signed(key_file: Path) -> None:
    with ShopClient(create_app(), base_url="http://127.0.0.1") as client:
        client.post("/cart/add", data={"product": "tea"})
        cookie = client.cookies["session"]
    restarted = find_session_middleware(create_app())
    assert restarted.signer.unsign(cookie) is not None


def test_session_secret_wins(key_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SESSION_SECRET", SECRET)
    secret = session_secret()
    assert (secret.value, secret.is_development_key) == (SECRET, False)
    assert not key_file.exists()


def test_an_unusable_key_file_is_refused(key_file: Path) -> None:
    key_file.write_text("short\n")
    with pytest.raises(RuntimeError, match="delete it"):
        session_secret()


@pytest.mark.parametrize(
    ("host", "local"),
    [("127.0.0.1", True), ("127.8.0.1", True), ("::1", True), ("localhost", True),
     ("10.0.0.5", False), ("192.168.1.2", False), ("testserver", False), (None, False)],
)  # fmt: skip
def test_what_counts_as_local(host: str | None, local: bool) -> None:
    assert is_loopback(host) is local


def test_no_warning_on_loopback(key_file: Path) -> None:
    with ShopClient(create_app(), base_url="http://127.0.0.1:8000") as client:
        page = client.get("/").text
    assert "secret-warning" not in page
    assert "the local development key" in page


def test_a_loud_warning_beyond_loopback(
    key_file: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("examples.fastapi_app.secret._warned", False)
    caplog.set_level(logging.WARNING)
    with ShopClient(create_app(), base_url="http://shop.example") as client:
        first, second = client.get("/").text, client.get("/login").text
    assert 'id="secret-warning"' in first
    assert 'id="secret-warning"' in second
    warnings = [r for r in caplog.records if "DEVELOPMENT session key" in r.getMessage()]
    assert len(warnings) == 1  # logged once, shown on every page


def test_no_warning_with_session_secret(key_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SESSION_SECRET", SECRET)
    with ShopClient(create_app(), base_url="http://shop.example") as client:
        page = client.get("/").text
    assert "secret-warning" not in page
    assert "<code>SESSION_SECRET</code>" in page
