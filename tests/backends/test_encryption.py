"""Encryption at rest on every kind of backend (memory, Redis, a Redis Cluster, memcached,
SQLite, PostgreSQL, MariaDB): what the backend holds is sealed and bound to its key, a damaged
or moved value is a fresh session and a ``tampered`` event, rotation and switching on and off
log nobody out, and concurrent writers still merge. The cookie backend's side is in
``tests/test_encryption.py``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from starlette_session import (
    KeyRing,
    SessionEvent,
    SessionEventInfo,
    SessionStore,
    generate_key,
    load_session,
)
from starlette_session.backends import SessionBackend
from starlette_session.encryption import MAGIC
from tests.backends.conftest import BACKENDS
from tests.helpers import http_client, make_app, session_cookie

pytest.importorskip("cryptography")

#: One backend of each kind (the variants of one client are covered by the contract suite).
KINDS = {"memory", "redis-async", "redis-cluster", "memcached", "sqlite", "postgres", "mysql"}
ENCRYPTED_BACKENDS = [param for param in BACKENDS if param.id in KINDS]

KEY_1, KEY_2 = generate_key(), generate_key()
TTL = 3600


@pytest.fixture(params=ENCRYPTED_BACKENDS)
def backend(request: pytest.FixtureRequest) -> SessionBackend:
    case = request.getfixturevalue(request.param)
    result: SessionBackend = case.backend
    return result


def ring(*ids: str, **options: bool) -> KeyRing:
    keys = {"k1": KEY_1, "k2": KEY_2}
    return KeyRing([(key_id, keys[key_id]) for key_id in ids], **options)


class Site:
    """One app over ``backend``: its store's events, and one request per call."""

    def __init__(self, backend: SessionBackend, encryption: KeyRing | None, **options: Any) -> None:
        self.store: SessionStore[Any] = SessionStore(backend, encryption=encryption, **options)
        self.events: list[SessionEventInfo] = []
        for event in (SessionEvent.tampered, SessionEvent.created):
            self.store.on(event, self.events.append)
        self.app = make_app(self.store, routes=[Route("/writer/{name}", _write, methods=["POST"])])

    def noted(self, event: SessionEvent) -> list[str | None]:
        return [info.reason for info in self.events if info.event is event]

    def created_key(self) -> str:
        keys = [info.key for info in self.events if info.event is SessionEvent.created]
        assert keys[-1] is not None
        return keys[-1]

    async def call(self, path: str, cookie: str | None) -> tuple[Any, str | None]:
        """The response's JSON and the session cookie afterwards (None: expired or unset)."""
        headers = {"cookie": f"session={cookie}"} if cookie else {}
        async with http_client(self.app) as client:
            response = await client.get(path, headers=headers)
        assert response.status_code == 200, response.text
        sent = session_cookie(response)
        return response.json(), (
            cookie if sent is None and "set-cookie" not in response.headers else sent
        )


async def _write(request: Request) -> Response:
    session = await load_session(request)
    await asyncio.sleep(0.01)  # every writer has loaded the same copy before any saves
    session[request.path_params["name"]] = 1
    return JSONResponse({})


async def new_session(site: Site, **values: str) -> tuple[str, str]:
    """A stored session holding ``values``: its cookie and its store key."""
    query = "&".join(f"{name}={value}" for name, value in values.items())
    data, cookie = await site.call(f"/set?{query}", None)
    assert data == values
    assert cookie is not None
    return cookie, site.created_key()


async def test_round_trip_stores_nothing_readable(backend: SessionBackend) -> None:
    site = Site(backend, ring("k1"))
    cookie, key = await new_session(site, secret="hunter2-card-4111")
    stored = await backend.read(key)
    assert stored is not None
    assert stored.startswith(MAGIC + b"\x02k1")
    assert b"hunter2" not in stored
    assert b'"d"' not in stored
    assert b"{" not in stored[:8]
    assert (await site.call("/get", cookie))[0] == {"secret": "hunter2-card-4111"}
    _, again = await site.call("/set?more=1", cookie)
    assert (await site.call("/get", again))[0] == {"secret": "hunter2-card-4111", "more": "1"}


async def test_every_byte_flipped_is_a_fresh_session_and_a_tampered_event(
    backend: SessionBackend,
) -> None:
    site = Site(backend, ring("k1"))
    cookie, key = await new_session(site, secret="x")
    stored = await backend.read(key)
    assert stored is not None
    for index in range(len(stored)):
        for mask in (0x01, 0xFF):
            flipped = bytearray(stored)
            flipped[index] ^= mask
            await backend.delete(key)
            assert await backend.create(key, bytes(flipped), TTL)
            site.events.clear()
            data, _ = await site.call("/get", cookie)
            assert data == {}, (index, mask)
            assert len(site.noted(SessionEvent.tampered)) == 1, (index, mask)
    # The untouched value still reads: the loop above changed nothing else.
    await backend.delete(key)
    assert await backend.create(key, stored, TTL)
    assert (await site.call("/get", cookie))[0] == {"secret": "x"}


async def test_a_value_moved_to_another_sessions_key_is_refused(backend: SessionBackend) -> None:
    site = Site(backend, ring("k1"))
    _, victim_key = await new_session(site, user="alice")
    attacker_cookie, attacker_key = await new_session(site, user="mallory")
    stolen = await backend.read(victim_key)
    current = await backend.read(attacker_key)
    assert stolen is not None
    assert current is not None
    assert (await backend.replace(attacker_key, current, stolen, TTL)).stored
    site.events.clear()
    assert (await site.call("/get", attacker_cookie))[0] == {}
    assert site.noted(SessionEvent.tampered) == ["ciphertext"]


async def test_rotation_reads_old_keys_reseals_at_the_next_write_and_removal_ends(
    backend: SessionBackend, caplog: pytest.LogCaptureFixture
) -> None:
    before = Site(backend, ring("k1"))
    cookie, key = await new_session(before, n="1")
    quiet, quiet_key = await new_session(before, n="quiet")

    rotated = Site(backend, ring("k2", "k1"))
    assert (await rotated.call("/get", cookie))[0] == {"n": "1"}
    stored = await backend.read(key)
    assert stored is not None
    assert stored.startswith(MAGIC + b"\x02k1")
    await rotated.call("/set?n=2", cookie)
    stored = await backend.read(key)
    assert stored is not None
    assert stored.startswith(MAGIC + b"\x02k2")

    after = Site(backend, ring("k2"))
    assert (await after.call("/get", cookie))[0] == {"n": "2"}
    with caplog.at_level(logging.WARNING, "starlette_session.security"):
        assert (await after.call("/get", quiet))[0] == {}
    assert after.noted(SessionEvent.tampered) == ["unknown_key"]
    logged = [record.getMessage() for record in caplog.records]
    assert any("'k1'" in line and "no longer holds" in line for line in logged)
    assert not any(KEY_1 in line or KEY_2 in line for line in logged)
    assert quiet_key  # the entry itself is left to expire or be deleted by its next request


async def test_plain_to_encrypted_and_back_without_a_log_out(backend: SessionBackend) -> None:
    plain = Site(backend, None)
    cookie, key = await new_session(plain, cart="apple")
    assert (await backend.read(key) or b"").startswith(b"{")

    refusing = Site(backend, ring("k1"))
    data, _ = await refusing.call("/get", cookie)  # accept_plain=False: the finished migration
    assert data == {}
    assert refusing.noted(SessionEvent.tampered) == ["plain"]
    cookie, key = await new_session(plain, cart="apple")

    migrating = Site(backend, ring("k1", accept_plain=True))
    assert (await migrating.call("/get", cookie))[0] == {"cart": "apple"}
    await migrating.call("/set?cart=pear", cookie)
    assert (await backend.read(key) or b"").startswith(MAGIC)

    encrypted = Site(backend, ring("k1"))
    assert (await encrypted.call("/get", cookie))[0] == {"cart": "pear"}

    leaving = Site(backend, ring("k1", decrypt_only=True))
    assert (await leaving.call("/get", cookie))[0] == {"cart": "pear"}
    await leaving.call("/set?cart=plum", cookie)
    assert json.loads(await backend.read(key) or b"")["d"] == {"cart": "plum"}

    assert (await plain.call("/get", cookie))[0] == {"cart": "plum"}


async def test_concurrent_writers_merge_with_encryption_on(backend: SessionBackend) -> None:
    site = Site(backend, ring("k1"))
    cookie, key = await new_session(site, started="1")
    writers = 20
    headers = {"cookie": f"session={cookie}"}
    async with http_client(site.app) as client:
        responses = await asyncio.gather(
            *(client.post(f"/writer/f{index}", headers=headers) for index in range(writers))
        )
    assert sorted(response.status_code for response in responses) == [200] * writers
    data, _ = await site.call("/get", cookie)
    assert data == {"started": "1", **{f"f{index}": 1 for index in range(writers)}}
    stored = await backend.read(key)
    assert stored is not None
    assert stored.startswith(MAGIC)
    # A marker long enough that random ciphertext does not hold it by chance (two bytes did, in
    # CI: one chance in about 300 for a value this long); the plaintext has both.
    assert b'"started"' not in stored
    assert b'"f19"' not in stored


async def test_the_same_backend_calls_with_encryption_as_without(backend: SessionBackend) -> None:
    calls: list[str] = []
    for name in ("read", "create", "replace", "expire", "delete", "update"):
        method = getattr(backend, name)

        def counted(*args: Any, _method: Any = method, _name: str = name, **kw: Any) -> Any:
            calls.append(_name)
            return _method(*args, **kw)

        setattr(backend, name, counted)
    counts = {}
    for encryption in (None, ring("k1")):
        site = Site(backend, encryption)
        steps: list[list[str]] = []
        cookie = None
        user = "sealed" if encryption else "plain"  # each run its own user index
        for path in ("/set?a=1", "/get", "/set?a=2", f"/login?user={user}", "/set?b=1", "/logout"):
            calls.clear()
            _, cookie = await site.call(path, cookie)
            steps.append(list(calls))
        counts[encryption is not None] = steps
    assert counts[True] == counts[False]
    assert counts[False][1] == ["read"]
    assert counts[False][2][:2] == ["read", "update"]
