"""docs_src/deployment: the production settings, and the key rotation the page describes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from starlette.testclient import TestClient

from tests.test_tutorial.conftest import LoadSample

OLD = "old-key-0123456789abcdefghijklmnopqrstuvwxyz"
NEW = "new-key-0123456789abcdefghijklmnopqrstuvwxyz"

pytestmark = pytest.mark.redis

Deploy = Callable[..., ModuleType]


@pytest.fixture
def deploy(
    load_sample: LoadSample, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Deploy:
    """Start the sample (a fresh import, as a restarted process) with these keys in its file."""
    monkeypatch.setenv("REDIS_URL", redis_url)
    key_file = tmp_path / "session_keys"
    monkeypatch.setenv("SESSION_SECRET_FILE", str(key_file))

    def start(*keys: str) -> ModuleType:
        key_file.write_text("".join(f"{key}\n" for key in keys) + "\n")
        return load_sample("docs_src.deployment.app")

    return start


def test_the_cookie_is_a_secure_host_cookie(deploy: Deploy) -> None:
    sample = deploy(NEW)
    with TestClient(sample.app, base_url="https://shop.example") as client:
        response = client.post("/cart", params={"item": "apple"})
        cookie = response.headers["set-cookie"]
        assert cookie.startswith("__Host-session=")
        for attribute in ("Secure", "HttpOnly", "Path=/", "SameSite=Lax", "Max-Age=43200"):
            assert attribute in cookie
        assert "Domain" not in cookie
        assert client.get("/cart").json() == {"items": ["apple"]}
    assert "old-key" not in repr(sample.secret_keys())  # Secret hides the keys


def read_cart(sample: ModuleType, cookie: str) -> tuple[object, str | None]:
    """The cart a browser holding ``cookie`` sees, and the cookie the answer sets, if any."""
    with TestClient(sample.app, base_url="https://shop.example") as client:
        response = client.get("/cart", headers={"Cookie": f"__Host-session={cookie}"})
        return response.json(), response.cookies.get("__Host-session")


def test_rotating_the_keys_keeps_sessions_then_drops_the_old_key(deploy: Deploy) -> None:
    before = deploy(OLD)
    with TestClient(before.app, base_url="https://shop.example") as client:
        client.post("/cart", params={"item": "apple"})
        old_cookie = client.cookies["__Host-session"]

    # Step 1: the new key first, the old one still verifying.
    rotating = deploy(NEW, OLD)
    cart, reissued = read_cart(rotating, old_cookie)
    assert cart == {"items": ["apple"]}
    assert reissued is not None  # signed with the new key, under a new id
    assert reissued != old_cookie

    # Step 2: the old key removed; the re-issued cookie still works, the old one does not.
    after = deploy(NEW)
    assert read_cart(after, reissued) == ({"items": ["apple"]}, None)
    assert read_cart(after, old_cookie)[0] == {"items": []}
