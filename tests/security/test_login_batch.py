"""Guarantees 26, 28 and 38 with a log-in's last three calls made as one batch.

A new id is written by ``SessionBackend.create_then``: the new entry, the old one retired, the
user's index read again. Redis sends the three as one pipeline, which no pause can split; the
other suites wrap the backend in a recorder whose ``create_then`` is the contract's default (three
calls, each a pause point), so they test the order, and this module the batch itself: it pauses
only between the backend's own calls, the batch being one, on every backend of ``real``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from starlette_session import SessionStore
from starlette_session.backends.base import Created, Swap
from tests.security.conftest import Client, Real, build_app
from tests.security.pausing import PausingBackend, live_sessions_of, paused_at

MAX_CALLS = 40
#: The log-in's backend call that reads the user's index (``begin_login``).
BEGIN_LOGIN_CALL = 2


class PausingBatches(PausingBackend):
    """``PausingBackend``, whose ``create_then`` is the real backend's (one pause point)."""

    batches = 0

    async def create_then(
        self,
        key: str,
        value: bytes,
        ttl: int | None,
        *,
        then_replace: Swap | None = None,
        then_read: str | None = None,
        logged_in: bool = False,
    ) -> Created:
        self.batches += 1
        call = self.inner.create_then(
            key, value, ttl, then_replace=then_replace, then_read=then_read, logged_in=logged_in
        )
        return await self._through("create_then", (key, value, ttl), call)


async def logged_in(app: Any, user: str) -> Client:
    client = Client(app)
    await client.post("/write", {"cart": ["apple"]})
    reply = await client.post("/login", {"user": user})
    assert reply.status == 200
    return client


@pytest.mark.parametrize("who", ["same-user-again", "anonymous-then-user"])
async def test_a_batched_log_in_racing_a_revocation_leaves_no_usable_session(
    real: Real, who: str
) -> None:
    pausing = PausingBatches(real.inner)
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
        if at <= BEGIN_LOGIN_CALL:  # the revocation came before the log-in began
            live = await live_sessions_of(real, user)
            assert len(live) == (1 if reply.status == 200 else 0)
            continue
        assert await live_sessions_of(real, user) == [], f"paused before call {at}"
        for client in (device, other_device):
            assert (await client.get()).json()["user"] is None
        if not paused:
            break
    else:  # pragma: no cover
        pytest.fail("a log-in made more backend calls than MAX_CALLS")
    assert pausing.batches > 0


async def test_batched_log_ins_and_revocations_run_together_leave_every_session_revocable(
    real: Real,
) -> None:
    app = build_app(SessionStore(real.inner))  # the backend itself: Redis pipelines the batch
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


async def test_a_batched_log_in_never_drops_a_change_another_tab_had_acknowledged(
    real: Real,
) -> None:
    pausing = PausingBatches(real.inner)
    app = build_app(SessionStore(pausing))
    for at in range(1, MAX_CALLS):
        tab_a = Client(app)
        await tab_a.post("/write", {"cart": ["apple"]})
        tab_b = Client(app, tab_a.cookie)
        other: list[Any] = []

        async def add_to_cart(tab: Client = tab_b, other: list[Any] = other, n: int = at) -> None:
            other.append(await tab.post("/write", {"wishlist": [n]}))

        async def log_in(tab: Client = tab_a, n: int = at) -> Any:
            return await tab.post("/login", {"user": f"ann-{n}"})

        login, paused = await paused_at(pausing, at, log_in, add_to_cart)
        change = other[0]
        assert login.status in (200, 409), login.body
        assert change.status in (200, 409), change.body
        if change.status == 200:  # acknowledged: it must be in the session the browser keeps
            data = (await Client(app, tab_a.cookie).get()).json()["data"]
            assert data.get("wishlist") == [at], f"paused before call {at}: {data}"
        if login.status == 200:
            assert (await Client(app, tab_a.cookie).get()).json()["user"] == f"ann-{at}"
        if not paused:
            break
