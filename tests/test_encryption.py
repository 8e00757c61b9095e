"""Encryption at rest: the key ring, the cookie backend's payload, sizes, logs, the test kit.
Every server-side backend kind is covered by ``tests/backends/test_encryption.py``."""

from __future__ import annotations

import base64
import logging
import subprocess
import sys
import time
from typing import Any

import pytest
from starlette.testclient import TestClient

from starlette_session import (
    EncryptionKey,
    KeyRing,
    SessionEvent,
    SessionEventInfo,
    SessionMiddleware,
    SessionSettingsError,
    SessionStore,
    SessionTooLargeError,
    generate_key,
)
from starlette_session.backends import CookieBackend, LegacyBackend, MemoryBackend
from starlette_session.encryption import MAGIC, record_aad
from starlette_session.testing import SessionTester
from tests.helpers import SECRET, DictSessionBackend, http_client, make_app, session_cookie

pytest.importorskip("cryptography")

KEY_1, KEY_2 = generate_key(), generate_key()


def ring(*ids: str, **options: bool) -> KeyRing:
    keys = {"k1": KEY_1, "k2": KEY_2}
    return KeyRing([(key_id, keys[key_id]) for key_id in ids], **options)


class CookieSite:
    """An app keeping its sessions in the cookie, sealed with ``encryption``."""

    def __init__(
        self, encryption: KeyRing | None, cookie_name: str = "session", **middleware: Any
    ) -> None:
        self.name = cookie_name
        self.store: SessionStore[Any] = SessionStore(CookieBackend(), encryption=encryption)
        self.tampered: list[SessionEventInfo] = []
        self.store.on(SessionEvent.tampered, self.tampered.append)
        self.app = make_app(self.store, cookie_name=cookie_name, **middleware)
        self.app.middleware_stack = self.app.build_middleware_stack()  # binds the store

    async def call(self, path: str, cookie: str | None) -> tuple[Any, str | None]:
        headers = {"cookie": f"{self.name}={cookie}"} if cookie else {}
        async with http_client(self.app) as client:
            response = await client.get(path, headers=headers)
        assert response.status_code == 200, response.text
        return response.json(), session_cookie(response, self.name)

    def payload(self, cookie: str) -> bytes:
        """The sealed bytes a cookie carries (its signature checked)."""
        unsigned = self.store.signer.unsign(cookie)
        assert unsigned is not None
        return base64.urlsafe_b64decode(unsigned.payload + "=" * (-len(unsigned.payload) % 4))

    def signed(self, payload: bytes, age: int = 0) -> str:
        """A cookie carrying ``payload``, validly signed by this app ``age`` seconds ago."""
        text = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
        return self.store.signer.sign(text, int(time.time()) - age)


# The key ring


def test_keys_are_checked_and_never_shown() -> None:
    with pytest.raises(SessionSettingsError, match="32 random bytes"):
        KeyRing([("k1", "too-short")])
    with pytest.raises(SessionSettingsError, match="32 random bytes"):
        KeyRing([("k1", b"x" * 31)])
    with pytest.raises(SessionSettingsError, match="own id"):
        KeyRing([("k1", KEY_1), ("k1", KEY_2)])
    with pytest.raises(SessionSettingsError, match="key id"):
        KeyRing([("bad id", KEY_1)])
    with pytest.raises(SessionSettingsError, match="at least one"):
        KeyRing([])
    with pytest.raises(TypeError, match="KeyRing"):
        SessionStore(encryption="k1:" + KEY_1)  # type: ignore[arg-type]
    parsed = KeyRing.from_string(f"k2:{KEY_2} k1:{KEY_1}", accept_plain=True)
    assert parsed.ids == ("k2", "k1")
    assert parsed.accept_plain
    shown = repr(parsed) + repr(EncryptionKey("k1", KEY_1)) + repr(SessionStore(encryption=parsed))
    assert KEY_1 not in shown
    assert KEY_2 not in shown
    assert "k1" in shown


def test_a_backend_of_json_objects_is_refused_at_start_up() -> None:
    store: SessionStore[Any] = SessionStore(
        LegacyBackend(DictSessionBackend()), encryption=ring("k1")
    )
    with pytest.raises(SessionSettingsError, match="JSON object"):
        SessionMiddleware(make_app(), secret_key=SECRET, store=store)


def test_the_core_never_imports_cryptography_unless_encryption_is_on() -> None:
    code = (
        "import sys; from starlette_session import SessionStore, SessionMiddleware; "
        "import starlette_session.testing, starlette_session.encryption; "
        "SessionMiddleware(None, secret_key='" + SECRET + "', store=SessionStore()); "
        "assert 'cryptography' not in sys.modules, 'imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_each_value_gets_its_own_nonce_and_names_its_key() -> None:
    keys = ring("k2", "k1")
    first, second = keys.seal(b'{"m":{},"d":{}}', b"a"), keys.seal(b'{"m":{},"d":{}}', b"a")
    assert first[:8] == second[:8] == MAGIC + b"\x02k2"
    assert first[8:20] != second[8:20]  # the nonces
    assert len(first) == len(b'{"m":{},"d":{}}') + keys.overhead
    assert keys.stored(first, b"a").raw == b'{"m":{},"d":{}}'
    assert keys.stored(first, b"b").refused == "ciphertext"


# The cookie backend


async def test_the_cookie_payload_is_unreadable_without_the_key() -> None:
    site = CookieSite(ring("k1"))
    data, cookie = await site.call("/set?card=4111-1111", None)
    assert data == {"card": "4111-1111"}
    assert cookie is not None
    sealed = site.payload(cookie)
    assert sealed.startswith(MAGIC)
    assert b"4111" not in sealed
    assert b"card" not in sealed
    assert (await site.call("/get", cookie))[0] == {"card": "4111-1111"}
    # The same app without the key (or with another key) reads no session from it.
    others = {"unknown_key": CookieSite(ring("k2")), "ciphertext": CookieSite(ring("k1", "k2"))}
    others["ciphertext"] = CookieSite(KeyRing([("k1", generate_key())]))
    for reason, other in others.items():
        assert (await other.call("/get", cookie))[0] == {}
        assert [info.reason for info in other.tampered] == [reason]


async def test_a_cookie_payload_moved_to_another_app_is_refused() -> None:
    # Same signing secret and same key ring: only the app differs (its cookie's name).
    shop, admin = CookieSite(ring("k1"), "shop"), CookieSite(ring("k1"), "admin")
    _, cookie = await shop.call("/set?role=customer", None)
    assert cookie is not None
    data, _ = await admin.call("/get", cookie)
    assert data == {}
    assert [info.reason for info in admin.tampered] == ["ciphertext"]
    # A leaked signing key does not help either: the label is bound to the signing key too.
    other = CookieSite(ring("k1"), "shop", secret_key="another-secret-that-is-long-enough-yes")
    resigned = other.signed(shop.payload(cookie))
    assert (await other.call("/get", resigned))[0] == {}


async def test_every_byte_of_a_cookie_payload_flipped_is_a_fresh_session() -> None:
    site = CookieSite(ring("k1"))
    _, cookie = await site.call("/set?a=1", None)
    assert cookie is not None
    sealed = site.payload(cookie)
    for index in range(len(sealed)):
        flipped = bytearray(sealed)
        flipped[index] ^= 0x01
        site.tampered.clear()
        data, _ = await site.call("/get", site.signed(bytes(flipped)))
        assert data == {}, index
        assert len(site.tampered) == 1, index


async def test_cookie_rotation_and_migration() -> None:
    plain_site = CookieSite(None)
    _, plain_cookie = await plain_site.call("/set?a=1", None)
    assert plain_cookie is not None
    refusing = CookieSite(ring("k1"))
    assert (await refusing.call("/get", plain_cookie))[0] == {}
    migrating = CookieSite(ring("k1", accept_plain=True))
    data, cookie = await migrating.call("/set?b=1", plain_cookie)
    assert data == {"a": "1", "b": "1"}
    assert cookie is not None
    assert migrating.payload(cookie).startswith(MAGIC + b"\x02k1")

    rotated = CookieSite(ring("k2", "k1"))
    assert (await rotated.call("/get", cookie))[0] == {"a": "1", "b": "1"}
    # An unchanged cookie re-sent (the idle timeout slides) is resealed under the new key too.
    data, refreshed = await rotated.call("/get", rotated.signed(rotated.payload(cookie), 5))
    assert data == {"a": "1", "b": "1"}
    assert refreshed is not None
    assert rotated.payload(refreshed).startswith(MAGIC + b"\x02k2")
    data, cookie = await rotated.call("/set?b=2", cookie)  # resealed under the new key
    assert cookie is not None
    assert rotated.payload(cookie).startswith(MAGIC + b"\x02k2")
    assert (await CookieSite(ring("k2")).call("/get", cookie))[0] == {"a": "1", "b": "2"}

    leaving = CookieSite(ring("k2", decrypt_only=True))
    data, cookie = await leaving.call("/set?b=3", cookie)
    assert data == {"a": "1", "b": "3"}
    assert cookie is not None
    assert leaving.payload(cookie).startswith(b"{")
    assert (await plain_site.call("/get", cookie))[0] == {"a": "1", "b": "3"}


# Sizes


async def test_the_cookie_size_guard_counts_the_sealed_size() -> None:
    value = "x" * 2700  # fits in 4 KB as plain base64, not once sealed (+35 bytes, base64)
    plain_site, sealed_site = CookieSite(None), CookieSite(ring("k1"))
    _, cookie = await plain_site.call(f"/set?v={value}", None)
    assert cookie is not None
    assert len(cookie) + len("session=") <= 4096
    fits = 4096 - len("session=") - len(cookie)
    value = "x" * (2700 + fits * 3 // 4 - 10)
    _, cookie = await plain_site.call(f"/set?v={value}", None)
    assert cookie is not None
    async with http_client(sealed_site.app) as client:
        with pytest.raises(SessionTooLargeError, match="4096"):
            await client.get(f"/set?v={value}")


async def test_max_size_counts_the_sealed_size() -> None:
    keys = ring("k1")
    store: SessionStore[Any] = SessionStore(MemoryBackend(), max_size=200, encryption=keys)
    plain: SessionStore[Any] = SessionStore(MemoryBackend(), max_size=200)
    value = "x" * (200 - len('{"m":{"c":1234567890,"v":1},"d":{"v":""}}') - 5)
    async with http_client(make_app(plain)) as client:
        assert (await client.get(f"/set?v={value}")).status_code == 200
    async with http_client(make_app(store)) as client:
        with pytest.raises(SessionTooLargeError, match="encrypted, over the limit of 200"):
            await client.get(f"/set?v={value}")


# Logs, the user index, the test kit


async def test_logs_name_the_key_id_never_a_key_and_tell_tampering_apart(
    caplog: pytest.LogCaptureFixture,
) -> None:
    keys = ring("k1")
    aad = record_aad("session:x")
    sealed = keys.seal(b'{"m":{},"d":{}}', aad)
    with caplog.at_level(logging.WARNING, "starlette_session.security"):
        assert ring("k2").stored(sealed, aad).refused == "unknown_key"
        assert keys.stored(sealed[:-1] + bytes([sealed[-1] ^ 1]), aad).refused == "ciphertext"
        assert keys.stored(b"\x01garbage", aad).refused == "malformed"
        forged = MAGIC + b"\x05k\n1\r1" + bytes(40)  # a key id with line breaks: not echoed
        assert keys.stored(forged, aad).refused == "malformed"
    messages = [record.getMessage() for record in caplog.records]
    assert "'k1'" in messages[0]
    assert "no longer holds" in messages[0]
    assert "(malformed)" in messages[3]
    assert "\n" not in "".join(messages)
    assert not any(KEY_1 in message or KEY_2 in message for message in messages)


async def test_user_sessions_are_listed_and_the_index_stays_plain() -> None:
    backend = MemoryBackend()
    store: SessionStore[Any] = SessionStore(backend, encryption=ring("k1"))
    app = make_app(store)
    async with http_client(app) as client:
        await client.get("/login?user=alice")
    sessions = await store.user_sessions("alice")
    assert len(sessions) == 1
    assert sessions[0].created_at is not None
    index = await backend.read(store.storage.user_index().index_key("alice"))
    assert index is not None
    assert index.startswith(b"{")
    assert b"alice" not in index
    assert await store.revoke_session("alice", sessions[0].key)


def test_the_test_kit_seeds_and_reads_encrypted_sessions() -> None:
    backend = MemoryBackend()
    store: SessionStore[Any] = SessionStore(backend, encryption=ring("k1"))
    with TestClient(make_app(store)) as client:
        sessions = SessionTester(client)
        sessions.seed({"cart": ["apple"]}, user_id="alice")
        assert client.get("/get").json() == {"cart": ["apple"]}
        stored = sessions.stored()
        assert stored is not None
        assert stored.startswith(MAGIC)
        assert b"apple" not in stored
        assert sessions.read() == {"cart": ["apple"]}
    cookie_store: SessionStore[Any] = SessionStore(CookieBackend(), encryption=ring("k1"))
    with TestClient(make_app(cookie_store)) as client:
        sessions = SessionTester(client)
        sessions.seed({"cart": ["pear"]})
        assert client.get("/get").json() == {"cart": ["pear"]}
        stored = sessions.stored()
        assert stored is not None
        assert stored.startswith(MAGIC)
        assert b"pear" not in stored
