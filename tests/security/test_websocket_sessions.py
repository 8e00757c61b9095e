"""A WebSocket's session, however long the connection has been open, never binds a user nor
outlives a revocation.

The WebSocket's session is the one ``SessionMiddleware`` gives a connection
(:class:`WebSocketSession`, loaded from the handshake's cookie and saved through the same
commit as an HTTP request), on every real backend. An hour and more passes on a fake clock
(memory, SQL); on Redis and Valkey, whose keys expire on the server's clock, the user's index
is deleted as its time to live would.
"""

from __future__ import annotations

from typing import Any

import pytest

from starlette_session import SessionStore
from starlette_session.exceptions import SessionDestroyedError, SessionWebSocketError
from starlette_session.websocket import WebSocketSession
from tests.security.conftest import Client, Real, build_app
from tests.security.pausing import live_sessions_of


def socket(app: Any, client: Client) -> WebSocketSession:
    """The session of a WebSocket opened with ``client``'s cookie."""
    return WebSocketSession(app.store, headers=[(b"cookie", f"session={client.cookie}".encode())])


async def hours_pass(real: Real, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two hours pass: every revocation stamp an emptied index kept has expired."""
    if real.fake_time is not None:
        await real.elapse(2 * 3600)
    else:
        index_keys = [key for key in await real.keys() if ":user:" in key]
        await real.inner.delete(*index_keys)


@pytest.mark.parametrize("user", ["mallory", "alice"])
async def test_set_user_over_a_websocket_is_refused_like_regenerate(real: Real, user: str) -> None:
    # 1.0: a WebSocket bound a user to an id that was never rotated (fixation).
    app = build_app(SessionStore(real.counting, idle_timeout=4 * 3600))
    visitor = Client(app)
    await visitor.post("/write", {"cart": ["apple"]})
    session = socket(app, visitor)
    await session.load()
    with pytest.raises(SessionWebSocketError, match="log a user in"):
        session.set_user(user)
    with pytest.raises(SessionWebSocketError, match="log a user in"):
        await session.begin_login(user)
    await session.finish()
    assert await live_sessions_of(real, user) == []
    assert (await visitor.get()).json()["user"] is None


async def test_set_user_to_the_sessions_own_user_or_none_is_allowed(real: Real) -> None:
    app = build_app(SessionStore(real.counting))
    device = Client(app)
    await device.post("/login", {"user": "alice"})
    session = socket(app, device)
    await session.load()
    session.set_user("alice")  # no change
    session["seen"] = True
    await session.save()
    session.set_user(None)  # forgetting the user rotates nothing and binds nobody
    await session.save()
    assert (await device.get()).json()["user"] is None
    assert await app.store.user_sessions("alice") == []


async def test_a_websocket_of_any_age_is_checked_against_an_earlier_revocation(
    real: Real, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 1.0: an index that listed nothing kept its revocation stamp an hour; a WebSocket opened
    # before it and used after it bound the revoked user to its session.
    real.freeze_time(monkeypatch)
    app = build_app(SessionStore(real.counting, idle_timeout=4 * 3600))
    device, visitor = Client(app), Client(app)
    await device.post("/login", {"user": "alice"})
    await visitor.post("/write", {"cart": ["apple"]})
    alices, anonymous = socket(app, device), socket(app, visitor)
    await alices.load()
    await anonymous.load()

    assert await app.store.revoke_user_sessions("alice") == 1
    await hours_pass(real, monkeypatch)

    alices["late"] = True
    with pytest.raises(SessionDestroyedError):
        await alices.save()
    assert not await alices.refresh()
    with pytest.raises(SessionWebSocketError):
        anonymous.set_user("alice")
    await anonymous.finish()
    assert await live_sessions_of(real, "alice") == []
