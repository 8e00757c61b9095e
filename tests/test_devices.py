"""Device tracking: the rules for the user agent, the client address behind trusted proxies and the
last-use stamp (pure), then the stamps a real redis-server receives: a read within the interval
stays one command."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import redis.asyncio

from starlette_session import DeviceTracking, SessionMiddleware, SessionSetupError, SessionStore
from starlette_session.backends import CookieBackend, RedisBackend, SessionBackend
from starlette_session.state import SessionState
from tests.helpers import SECRET, CommandCounter, make_app
from tests.test_events import BASE, key_of


def scope(
    client: str | None = "203.0.113.77", *headers: tuple[str, str], agent: str | None = None
) -> dict[str, Any]:
    raw = [(name.encode(), value.encode()) for name, value in headers]
    if agent is not None:
        raw.append((b"user-agent", agent.encode()))
    return {"type": "http", "headers": raw, "client": (client, 5000) if client else None}


# The client address


@pytest.mark.parametrize(
    ("setting", "peer", "expected"),
    [
        ("prefix", "203.0.113.77", "203.0.113.0/24"),
        ("prefix", "2001:db8:abcd:12::1", "2001:db8:abcd::/48"),
        ("prefix", "::ffff:198.51.100.9", "198.51.100.0/24"),  # IPv4 mapped into IPv6
        ("full", "203.0.113.77", "203.0.113.77"),
        ("full", "2001:db8::1", "2001:db8::1"),
        ("none", "203.0.113.77", None),
        ("prefix", "testclient", None),  # not an address (Starlette's TestClient)
        ("prefix", None, None),  # no client (a Unix socket)
    ],
)
def test_the_client_address_is_as_coarse_as_configured(
    setting: Any, peer: str | None, expected: str | None
) -> None:
    assert DeviceTracking(client_address=setting).client(scope(peer)) == expected


def test_forwarded_for_is_read_only_from_trusted_proxies() -> None:
    devices = DeviceTracking(client_address="full", trusted_proxies=["10.0.0.0/8", "::1"])
    forwarded = ("x-forwarded-for", "198.51.100.7, 10.0.0.2")
    # From a trusted proxy: the last hop that is not a proxy of ours.
    assert devices.client(scope("10.0.0.1", forwarded)) == "198.51.100.7"
    assert devices.client(scope("::1", forwarded)) == "198.51.100.7"
    # From anyone else, the header is whatever the client wrote: ignored.
    assert devices.client(scope("203.0.113.5", forwarded)) == "203.0.113.5"
    # A client cannot hide behind an address it prepends.
    spoofed = ("x-forwarded-for", "1.2.3.4, 198.51.100.7")
    assert devices.client(scope("10.0.0.1", spoofed)) == "198.51.100.7"
    # Several headers are one list; ports and brackets are dropped.
    first, second = ("x-forwarded-for", "[2001:db8::5]:443"), ("x-forwarded-for", "10.0.0.3:80")
    assert devices.client(scope("10.0.0.1", first, second)) == "2001:db8::5"
    # All hops trusted: the first; garbage: the last address that could be trusted.
    assert devices.client(scope("10.0.0.1", ("x-forwarded-for", "10.0.0.9"))) == "10.0.0.9"
    assert devices.client(scope("10.0.0.1", ("x-forwarded-for", "unknown"))) == "10.0.0.1"
    assert devices.client(scope("10.0.0.1")) == "10.0.0.1"  # no header: the proxy itself


def test_without_trusted_proxies_forwarded_for_is_ignored() -> None:
    devices = DeviceTracking(client_address="full")
    assert devices.client(scope("10.0.0.1", ("x-forwarded-for", "198.51.100.7"))) == "10.0.0.1"


def test_the_user_agent_is_truncated() -> None:
    devices = DeviceTracking(user_agent_length=10)
    assert devices.user_agent(scope(agent="Mozilla/5.0 (X11; Linux x86_64)")) == "Mozilla/5."
    assert devices.user_agent(scope()) is None
    assert devices.user_agent(scope(agent="   ")) is None


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="client_address"):
        DeviceTracking(client_address="city")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="list of networks"):
        DeviceTracking(trusted_proxies="10.0.0.0/8")
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 network"):
        DeviceTracking(trusted_proxies=["proxy.internal"])
    with pytest.raises(ValueError, match="last_used_interval"):
        DeviceTracking(last_used_interval=-1)
    assert SessionStore(track_devices=True).devices is not None
    assert SessionStore().devices is None


# The last-use stamp


def user_state(meta: dict[str, Any]) -> SessionState:
    state = SessionState()
    state.loaded_from(session_id="id", store_key="key", raw=b"{}", meta=meta)
    return state


def test_a_stamp_is_written_only_when_due() -> None:
    devices = DeviceTracking(last_used_interval=300)
    request = scope(agent="Firefox")

    fresh = user_state({"u": "alice", "t": 1000})
    devices.track(fresh, request, 1299)
    assert (fresh.changed, fresh.meta) == (False, {"u": "alice", "t": 1000})

    stale = user_state({"u": "alice", "t": 1000})
    devices.track(stale, request, 1300)
    assert stale.changed
    assert stale.meta == {"u": "alice", "t": 1300, "a": "Firefox", "i": "203.0.113.0/24"}

    rotated = user_state({"u": "alice", "t": 1000})
    rotated.request_rotation()
    devices.track(rotated, request, 1001)  # a new id is written anyway: stamp it
    assert rotated.meta["t"] == 1001

    anonymous = user_state({})
    devices.track(anonymous, request, 5000)
    assert (anonymous.changed, anonymous.meta) == (False, {})

    signed_out = user_state({"t": 1000, "a": "Firefox", "i": "203.0.113.0/24"})
    devices.track(signed_out, request, 1001)  # set_user(None): the device is forgotten
    assert (signed_out.changed, signed_out.meta) == (True, {})


# Through requests, on a real redis-server


async def age(backend: SessionBackend, key: str, seconds: int) -> None:
    """Make the last use of the stored session ``key`` older by ``seconds``."""
    raw = await backend.read(key)
    assert raw is not None
    record = json.loads(raw)
    record["m"]["t"] -= seconds
    new = json.dumps(record, separators=(",", ":")).encode()
    assert (await backend.replace(key, raw, new, 3600)).stored


def client_for(app: Any, agent: str, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app, client=(address, 4000))
    return httpx.AsyncClient(transport=transport, base_url=BASE, headers={"user-agent": agent})


async def test_user_sessions_tell_each_device(backend: SessionBackend) -> None:
    store: SessionStore[Any] = SessionStore(backend, track_devices=True)
    app = make_app(store)
    async with (
        client_for(app, "Phone Browser", "198.51.100.20") as phone,
        client_for(app, "Laptop Browser", "2001:db8:1:2::3") as laptop,
    ):
        await phone.get("/login", params={"user": "alice"})
        await laptop.get("/login", params={"user": "alice"})
        phone_key = key_of(store, phone.cookies["session"])
        laptop_key = key_of(store, laptop.cookies["session"])
        await age(backend, phone_key, 60)  # the phone was last used a minute earlier

    sessions = await store.user_sessions("alice")
    assert [info.key for info in sessions] == [laptop_key, phone_key]  # newest use first
    laptop_info, phone_info = sessions
    assert (laptop_info.user_agent, laptop_info.client) == ("Laptop Browser", "2001:db8:1::/48")
    assert (phone_info.user_agent, phone_info.client) == ("Phone Browser", "198.51.100.0/24")
    assert laptop_info.last_used is not None
    assert laptop_info.created_at is not None
    assert laptop_info.last_used >= laptop_info.created_at
    assert not any(info.current for info in sessions)


@pytest.mark.redis
async def test_a_read_stays_one_command_until_the_stamp_is_due(redis_url: str) -> None:
    client = redis.asyncio.Redis.from_url(redis_url)
    store: SessionStore[Any] = SessionStore(RedisBackend(client), track_devices=True)
    counter = CommandCounter(redis_url)
    async with client_for(make_app(store), "Firefox", "203.0.113.7") as http:
        await http.get("/login", params={"user": "alice"})
        key = key_of(store, http.cookies["session"])

        counter.reset()
        await http.get("/get")
        assert counter.delta() == {"getex": 1}

        # The stamp grows old (as it would in 5 minutes)...
        await age(store.backend, key, 300)  # type: ignore[arg-type]
        stamped = json.loads(await client.get(key) or b"")["m"]["t"]
        counter.reset()
        await http.get("/get")  # ...so this read writes it once,
        writes = counter.delta()
        assert writes.pop("getex") == 1
        # One compare-and-set: SET ... IFEQ, or EVALSHA (Redis counts the script's GET and SET).
        assert writes in ({"set": 1}, {"evalsha": 1, "get": 1, "set": 1})
        assert json.loads(await client.get(key) or b"")["m"]["t"] > stamped

        counter.reset()
        await http.get("/get")  # and the next read is one command again
        assert counter.delta() == {"getex": 1}
    counter.close()
    await client.aclose()


def test_the_cookie_backend_cannot_track_devices() -> None:
    store: SessionStore[Any] = SessionStore(CookieBackend(), track_devices=True)
    with pytest.raises(SessionSetupError, match="server-side backend"):
        SessionMiddleware(make_app(SessionStore()), secret_key=SECRET, store=store)
