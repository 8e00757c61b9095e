"""Revocation: requirement 10 (revoking every session of a user) and "log out everywhere" is
complete.

After ``revoke_user_sessions(user)`` returns, no session of that user can be used again, whatever
was evicted, failed or ran concurrently. Each test runs against real backends (the ``real``
fixture: memory, Redis, Valkey, SQLite, PostgreSQL, MariaDB) unless it is about one backend's
eviction. Races are deterministic (``PausingBackend`` holds the log-in between two of its backend
calls, one case per pause point) and are also run many times without injection.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest

from starlette_session import SessionStore
from starlette_session.backends import MemoryBackend, SessionBackend
from starlette_session.exceptions import SessionBackendError, SessionDestroyedError
from starlette_session.records import decode_record
from tests.security.conftest import (
    OLD_SECRET,
    SECRET,
    Client,
    CountingBackend,
    Real,
    build_app,
    session_id,
)
from tests.security.pausing import PausingBackend, live_sessions_of, paused_at
from tests.servers import RedisServer, find_binary

SECURITY_LOGGER = "starlette_session.security"
#: More pause points than any log-in makes backend calls; the loops stop at the first unpaused run.
MAX_CALLS = 40
#: The log-in route's backend call that reads the user's index (``begin_login``): its first
#: is the session's read.
BEGIN_LOGIN_CALL = 2


async def logged_in(app: Any, user: str) -> Client:
    client = Client(app)
    await client.post("/write", {"cart": ["apple"]})
    reply = await client.post("/login", {"user": user})
    assert reply.status == 200
    return client


async def index_of(real: Real) -> dict[str, Any]:
    """The one per-user index stored (its decoded data)."""
    keys = [key for key in await real.keys() if ":user:" in key]
    assert len(keys) == 1, keys
    raw = await real.raw(keys[0])
    assert raw is not None
    record = decode_record(raw)
    assert record is not None
    return record.data


# 10. Revoking every session of a user.


async def test_password_change_revokes_every_other_session_of_the_user(real: Real) -> None:
    app = build_app(SessionStore(real.counting))
    laptop, phone, tablet, bob = Client(app), Client(app), Client(app), Client(app)
    for client, user in ((laptop, "alice"), (phone, "alice"), (tablet, "alice"), (bob, "bob")):
        await client.post("/login", {"user": user})

    listed = (await laptop.get("/my-sessions")).json()["keys"]
    assert len(listed) == 3
    assert all(session_id(c.cookie or "") not in "".join(listed) for c in (laptop, phone, tablet))

    assert (await laptop.post("/change-password")).json() == {"revoked": 2}

    assert (await laptop.get()).json()["user"] == "alice"  # the current session stays
    for revoked in (phone, tablet):
        assert (await revoked.get()).json() == {
            "data": {},
            "new": True,
            "user": None,
            "created": None,
        }
    assert (await bob.get()).json()["user"] == "bob"
    assert len(await app.store.user_sessions("alice")) == 1
    assert len(await app.store.user_sessions("bob")) == 1


async def test_revoke_all_sessions_of_a_user_from_outside_a_request(real: Real) -> None:
    app = build_app(SessionStore(real.counting))
    clients = [Client(app) for _ in range(3)]
    for client in clients:
        await client.post("/login", {"user": "alice"})
    assert await app.store.revoke_user_sessions("alice") == 3
    for client in clients:
        assert (await client.get()).json()["data"] == {}
    assert await app.store.user_sessions("alice") == []
    assert await real.session_keys() == []


async def test_set_user_on_an_existing_session_is_indexed(real: Real) -> None:
    # The store maintains the index whenever the app says who owns a session, not only when the
    # id changes at the same time.
    app = build_app(SessionStore(real.counting))
    client = Client(app)
    await client.post("/write", {"cart": ["apple"]})
    await client.post("/set-user", {"user": "alice"})
    assert (await client.get()).json()["user"] == "alice"
    assert len(await app.store.user_sessions("alice")) == 1

    # Handing the session to another user moves it to that user's index.
    await client.post("/set-user", {"user": "bob"})
    assert await app.store.user_sessions("alice") == []
    assert len(await app.store.user_sessions("bob")) == 1

    assert await app.store.revoke_user_sessions("bob") == 1
    assert (await client.get()).json()["data"] == {}


async def test_logout_removes_the_session_from_the_user_index(real: Real) -> None:
    app = build_app(SessionStore(real.counting))
    one, two = Client(app), Client(app)
    await one.post("/login", {"user": "alice"})
    await two.post("/login", {"user": "alice"})
    await one.post("/logout")
    sessions = await app.store.user_sessions("alice")
    assert len(sessions) == 1
    assert sessions[0].key == app.store.storage_key(session_id(two.cookie or ""))


# A new id racing a revocation or a log-out


@pytest.mark.parametrize("who", ["same-user-again", "anonymous-then-user"])
async def test_a_log_in_racing_a_revocation_leaves_no_usable_session_at_any_pause_point(
    real: Real, who: str
) -> None:
    pausing = PausingBackend(real.inner)
    app = build_app(SessionStore(pausing))
    for at in range(1, MAX_CALLS):
        user = f"bob-{who}-{at}"
        other_device = await logged_in(app, user)
        device = await logged_in(app, user) if who == "same-user-again" else Client(app)
        if who == "anonymous-then-user":
            await device.post("/write", {"cart": ["pear"]})

        async def revoke(user: str = user) -> None:
            await app.store.revoke_user_sessions(user)

        async def log_in(device: Client = device, user: str = user) -> Any:
            return await device.post("/login", {"user": user})

        reply, paused = await paused_at(pausing, at, log_in, revoke)
        assert reply.status in (200, 409), reply.body
        if at <= BEGIN_LOGIN_CALL:
            # The revocation came before the log-in began (its session read, then its
            # begin_login read of the index): a later log-in, which may stand.
            live = await live_sessions_of(real, user)
            assert len(live) == (1 if reply.status == 200 else 0)
            assert (await other_device.get()).json()["user"] is None
            continue
        # The log-in began before the revocation: it must not leave a session behind.
        assert await live_sessions_of(real, user) == [], f"paused before call {at}"
        for client in (device, other_device):
            assert (await client.get()).json()["user"] is None
        if not paused:
            break
    else:  # pragma: no cover
        pytest.fail("a log-in made more backend calls than MAX_CALLS")


async def test_a_log_in_racing_a_log_out_of_the_same_session_never_revives_it(real: Real) -> None:
    pausing = PausingBackend(real.inner)
    app = build_app(SessionStore(pausing))
    for at in range(1, MAX_CALLS):
        user = f"carol-{at}"
        tab = await logged_in(app, user)
        other_tab = Client(app, tab.cookie)

        logged_out: list[int] = []

        async def log_out(
            other_tab: Client = other_tab, logged_out: list[int] = logged_out
        ) -> None:
            logged_out.append((await other_tab.post("/logout")).status)

        async def log_in(tab: Client = tab, user: str = user) -> Any:
            return await tab.post("/login", {"user": user})

        reply, paused = await paused_at(pausing, at, log_in, log_out)
        assert reply.status in (200, 409), reply.body
        if not paused:
            break
        # An acknowledged log-out is never undone (at 1 it ran before the log-in read the
        # session: the log-in is a fresh one). A log-out landing after the old id was retired
        # is answered 409, and the browser retries it with the new cookie.
        assert logged_out[0] in (200, 409)
        if at > 1 and logged_out[0] == 200:
            assert await live_sessions_of(real, user) == [], f"paused before call {at}"


async def test_a_re_issue_after_a_secret_rotation_racing_a_revocation_leaves_nothing(
    real: Real,
) -> None:
    old_app = build_app(SessionStore(real.inner), secret_key=OLD_SECRET)
    pausing = PausingBackend(real.inner)
    app = build_app(SessionStore(pausing), secret_key=[SECRET, OLD_SECRET])
    for at in range(1, MAX_CALLS):
        user = f"dave-{at}"
        client = await logged_in(old_app, user)  # a cookie signed by the old key
        reissuing = Client(app, client.cookie)

        async def revoke(user: str = user) -> None:
            await app.store.revoke_user_sessions(user)

        reply, paused = await paused_at(pausing, at, reissuing.get, revoke)
        assert reply.status in (200, 409), reply.body
        assert await live_sessions_of(real, user) == [], f"paused before call {at}"
        if not paused:
            break


async def test_log_ins_and_revocations_run_together_leave_every_session_revocable(
    real: Real,
) -> None:
    # No injection: 100 rounds of a log-in and a revocation started at once. Whatever order
    # they took, every session left is listed, so a second revocation ends it.
    app = build_app(SessionStore(real.counting))
    rounds = 100 if real.kind in ("memory", "redis", "valkey") else 25
    for index in range(rounds):
        user = f"erin-{index}"
        device = await logged_in(app, user)
        replies = await asyncio.gather(
            device.post("/login", {"user": user}),
            app.store.revoke_user_sessions(user),
            return_exceptions=True,
        )
        assert not any(isinstance(reply, BaseException) for reply in replies), replies
        await app.store.revoke_user_sessions(user)
        assert await live_sessions_of(real, user) == []


# Indexing is not a separate step that can fail or race


class FailingIndexWrites(SessionBackend):
    """Delegates to a real backend, but the first write of a per-user index fails."""

    def __init__(self, inner: SessionBackend) -> None:
        self.inner = inner
        self.failed = False

    def _fail(self, key: str) -> None:
        if ":user:" in key and not self.failed:
            self.failed = True
            raise SessionBackendError("the backend failed while writing the index")

    async def read(self, key: str, ttl: int | None = None) -> bytes | None:
        return await self.inner.read(key, ttl)

    async def create(
        self, key: str, value: bytes, ttl: int | None, *, logged_in: bool = False
    ) -> bool:
        self._fail(key)
        return await self.inner.create(key, value, ttl, logged_in=logged_in)

    async def replace(
        self, key: str, expected: bytes, value: bytes, ttl: int | None, *, logged_in: bool = False
    ) -> Any:
        self._fail(key)
        return await self.inner.replace(key, expected, value, ttl, logged_in=logged_in)

    async def expire(self, key: str, ttl: int) -> None:
        await self.inner.expire(key, ttl)

    async def delete(self, *keys: str) -> None:
        await self.inner.delete(*keys)


@pytest.mark.parametrize("policy", ["fail", "anonymous"])
@pytest.mark.parametrize("route", ["/set-user", "/login"])
async def test_a_failure_while_indexing_leaves_no_unindexed_logged_in_session(
    real: Real, policy: str, route: str
) -> None:
    failing = FailingIndexWrites(real.inner)
    app = build_app(SessionStore(failing, on_backend_error=policy))  # type: ignore[arg-type]
    client = Client(app)
    await client.post("/write", {"cart": ["apple"]})
    cookie = client.cookie

    reply = await client.post(route, {"user": "bob"})

    assert failing.failed
    assert reply.status == (503 if policy == "fail" else 200)
    # The response said nothing was saved, and nothing was: no session holds bob.
    assert await live_sessions_of(real, "bob") == []
    assert (await Client(app, cookie).get()).json()["user"] is None


async def test_forty_concurrent_set_users_are_all_indexed(real: Real) -> None:
    app = build_app(SessionStore(real.counting))
    clients = [Client(app) for _ in range(40)]
    for client in clients:
        await client.post("/write", {"cart": ["apple"]})

    replies = await asyncio.gather(
        *(client.post("/set-user", {"user": "bob"}) for client in clients)
    )

    assert [reply.status for reply in replies] == [200] * 40
    assert len(await app.store.user_sessions("bob")) == 40
    assert await app.store.revoke_user_sessions("bob") == 40
    for client in clients:
        assert (await client.get()).json()["user"] is None


# The index stays bounded


async def test_the_index_is_capped_and_a_log_in_costs_the_same_however_many_came_before(
    real: Real,
) -> None:
    counting = CountingBackend(real.inner)
    app = build_app(SessionStore(counting, max_user_sessions=20))
    costs = []
    for _ in range(60):
        client = Client(app)
        counting.calls.clear()
        await client.post("/login", {"user": "bob"})
        costs.append(len(counting.calls))
    entries = (await index_of(real))["k"]
    assert len(entries) == 20
    assert len(await live_sessions_of(real, "bob")) == 20, "beyond the cap, the oldest end"
    assert costs[30] == costs[59], costs


async def test_a_new_id_at_the_cap_never_ends_the_session_being_rotated(real: Real) -> None:
    # 1.0: at max_user_sessions, regenerate() of the user's oldest session counted it twice,
    # ended it as the oldest, and answered 409: the user was logged out.
    app = build_app(SessionStore(real.counting, max_user_sessions=3))
    oldest, *others = [await logged_in(app, "bob") for _ in range(3)]
    for client in (oldest, *others, oldest):
        reply = await client.post("/regenerate")
        assert reply.status == 200, reply.body
        assert (await client.get()).json()["user"] == "bob"
    reply = await oldest.post("/login", {"user": "bob"})  # a log-in again on the same device
    assert reply.status == 200, reply.body
    assert len(await live_sessions_of(real, "bob")) == 3
    assert len((await index_of(real))["k"]) == 3

    newcomer = await logged_in(app, "bob")  # the count grows: the oldest other session ends
    assert (await newcomer.get()).json()["user"] == "bob"
    users = [(await client.get()).json()["user"] for client in (oldest, *others)]
    assert users.count(None) == 1
    assert len(await live_sessions_of(real, "bob")) == 3


async def test_sessions_that_expired_leave_the_index_at_the_next_log_in(
    real: Real, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Memory and SQL take a fake clock; Redis and Valkey expire keys in real time (1 s here).
    real.freeze_time(monkeypatch)
    app = build_app(SessionStore(real.counting, idle_timeout=1))
    for _ in range(5):
        await Client(app).post("/login", {"user": "bob"})
    assert len((await index_of(real))["k"]) == 5

    await real.elapse(2.2)  # every session expires, and each one's check time passes
    await Client(app).post("/login", {"user": "bob"})

    assert len((await index_of(real))["k"]) == 1


async def test_log_out_leaves_no_lasting_index_behind(real: Real) -> None:
    app = build_app(SessionStore(real.counting))
    client = await logged_in(app, "bob")
    await client.post("/logout")
    index_keys = [key for key in await real.keys() if ":user:" in key]
    if index_keys:  # an emptied index, gone within a minute
        assert (await index_of(real))["k"] == {}
    if real.redis is not None:
        for key in index_keys:
            assert 0 < await real.redis.ttl(key) <= 60


async def index_keys(real: Real) -> list[str]:
    return [key for key in await real.keys() if ":user:" in key]


def expiring_backend(real: Real) -> SessionBackend:
    # The fixture's memory table is bounded, so it would evict an index with a time to live:
    # there the index keeps none (expiring_index_is_safe). Unbounded, it expires like the rest.
    if real.kind == "memory":
        return MemoryBackend(max_entries=None, max_bytes=None, clock=lambda: time.time())
    return real.inner


async def test_an_index_ends_once_none_of_its_sessions_can_be_used(
    real: Real, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 1.0: every user who ever logged in left an index with no time to live.
    real.freeze_time(monkeypatch)
    backend = expiring_backend(real)
    real.inner = backend  # read the storage the store writes to
    app = build_app(SessionStore(backend), max_age=4)
    for _ in range(3):
        await Client(app).post("/login", {"user": "bob"})
    keys = await index_keys(real)
    assert len(keys) == 1
    if real.redis is not None:
        assert 0 < await real.redis.ttl(keys[0]) <= 5

    await real.elapse(5)  # no cookie of bob's is usable any more: nor is the index kept

    assert await index_keys(real) == []
    assert await live_sessions_of(real, "bob") == []


async def test_a_re_signed_cookie_keeps_its_index_and_an_expired_index_lets_no_log_in_pass(
    real: Real, monkeypatch: pytest.MonkeyPatch
) -> None:
    real.freeze_time(monkeypatch)
    backend = expiring_backend(real)
    real.inner = backend
    app = build_app(SessionStore(backend), max_age=4)
    device = await logged_in(app, "bob")
    await real.elapse(2.5)
    assert (await device.get()).json()["user"] == "bob"  # past half its Max-Age: re-signed
    await real.elapse(2.5)  # the first cookie's time is over, the new one's is not

    assert (await device.get()).json()["user"] == "bob"
    assert len(await index_keys(real)) == 1, "the index lives as long as the new cookie"
    assert await app.store.revoke_user_sessions("bob") == 1
    assert (await device.get()).json()["user"] is None

    # A log-in that began under the index's generation, whose index then expired, and was
    # revoked again: never saved.
    store: SessionStore[Any] = app.store
    attacker = Client(app)
    await attacker.post("/write", {"cart": ["pear"]})
    from starlette_session import Session

    session = Session(store, attacker.cookie and _cookie(attacker))
    await session.begin_login("bob")
    await real.inner.delete(*await index_keys(real))  # the index expired
    await app.store.revoke_user_sessions("bob")
    session.regenerate()
    session.set_user("bob")
    with pytest.raises(SessionDestroyedError):
        await store.commit(session, 200)
    assert await live_sessions_of(real, "bob") == []


def _cookie(client: Client) -> str:
    assert client.cookie is not None
    return client.cookie


# Eviction


async def test_an_anonymous_flood_evicts_neither_the_index_nor_a_logged_in_session() -> None:
    backend = MemoryBackend(max_entries=300)
    app = build_app(SessionStore(backend))
    victim = await logged_in(app, "alice")
    stolen = victim.cookie
    for index in range(2000):  # an anonymous attacker, ten times the table
        await Client(app).post("/write", {"n": index})
    assert len(backend) <= 300
    assert (await Client(app, stolen).get()).json()["user"] == "alice"

    assert await app.store.revoke_user_sessions("alice") == 1
    assert (await Client(app, stolen).get()).json()["user"] is None


async def test_a_byte_bound_evicts_anonymous_sessions_before_logged_in_ones() -> None:
    backend = MemoryBackend(max_bytes=200_000)
    app = build_app(SessionStore(backend))
    victim = await logged_in(app, "alice")
    for _ in range(100):  # 60 KiB each: the table would hold 6 MB
        await Client(app).post("/write", {"blob": "x" * 60_000})
    assert backend.size <= 200_000
    assert (await Client(app, victim.cookie).get()).json()["user"] == "alice"
    assert await app.store.revoke_user_sessions("alice") == 1


def _redis_with(policy: str) -> RedisServer:
    if find_binary("REDIS_SERVER_BIN", "redis-server") is None:
        pytest.skip("redis-server not found")
    return RedisServer(options=["--maxmemory", "3mb", "--maxmemory-policy", policy])


@pytest.mark.redis
async def test_redis_volatile_lru_evicts_sessions_but_never_the_index() -> None:
    import redis.asyncio

    from starlette_session.backends.redis import RedisBackend

    with _redis_with("volatile-lru") as server:
        client = redis.asyncio.Redis.from_url(server.url)
        try:
            app = build_app(SessionStore(RedisBackend(client)))
            victim = await logged_in(app, "alice")
            stolen = victim.cookie
            index = 0
            while int((await client.info("stats"))["evicted_keys"]) < 200:
                await Client(app).post("/write", {"blob": "x" * 2000, "n": index})
                index += 1
                if index % 20 == 0:  # the victim keeps using the site
                    await Client(app, stolen).get()
            index_keys = [key async for key in client.scan_iter(match="*:user:*")]
            assert len(index_keys) == 1
            assert await client.ttl(index_keys[0]) == -1, "the index has no time to live"

            await app.store.revoke_user_sessions("alice")

            assert (await Client(app, stolen).get()).json()["user"] is None
        finally:
            await client.aclose()


@pytest.mark.redis
async def test_redis_allkeys_eviction_is_reported_at_the_first_log_in(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import redis.asyncio

    from starlette_session.backends.redis import RedisBackend

    with _redis_with("allkeys-lru") as server:
        client = redis.asyncio.Redis.from_url(server.url)
        try:
            app = build_app(SessionStore(RedisBackend(client)))
            with caplog.at_level(logging.ERROR, logger=SECURITY_LOGGER):
                await logged_in(app, "alice")
                await logged_in(app, "bob")
            reports = [r for r in caplog.records if "allkeys-lru" in r.getMessage()]
            assert len(reports) == 1, "reported once, at the first index write"
            assert reports[0].name == SECURITY_LOGGER
        finally:
            await client.aclose()


@pytest.mark.memcached
async def test_memcached_eviction_is_reported_at_the_first_log_in(
    memcached_address: tuple[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    aiomcache = pytest.importorskip("aiomcache")
    from starlette_session.backends import MemcachedBackend

    client = aiomcache.Client(*memcached_address)
    try:
        app = build_app(SessionStore(MemcachedBackend(client)))
        with caplog.at_level(logging.ERROR, logger=SECURITY_LOGGER):
            await logged_in(app, "alice")
        assert any("memcached evicts" in r.getMessage() for r in caplog.records)
    finally:
        await client.close()
