"""Typed views (``typed.py``): each model validated once, compared as JSON bytes, dumped only when
it changed, and copied back with JSON equality (``1``, ``1.0`` and ``True`` differ)."""

from __future__ import annotations

import json
import math
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel

from starlette_session import SessionNotSerializableError, SessionStore
from starlette_session.backends import MemoryBackend
from starlette_session.records import RETIRED
from tests.test_store import bound, load


class Cart(BaseModel):
    items: list[str] = []
    owner: str | None = None
    score: float | None = None
    value: Any = None


class CountingCart(Cart):
    """Counts its dumps: a typed request dumps its model only when it changed."""

    dumps: ClassVar[int] = 0

    def model_dump(self, **options: Any) -> dict[str, Any]:
        type(self).dumps += 1
        return super().model_dump(**options)


@pytest.fixture
def backend() -> MemoryBackend:
    return MemoryBackend()


@pytest.fixture
def store(backend: MemoryBackend) -> SessionStore[Any]:
    return bound(SessionStore(backend, idle_timeout=600))


def stored_data(backend: MemoryBackend) -> dict[str, Any]:
    (raw,) = [entry[0] for entry in backend._entries.values() if entry[0] != RETIRED]
    data: dict[str, Any] = json.loads(raw)["d"]
    return data


async def a_session(store: SessionStore[Any], **data: Any) -> str:
    session = await load(store)
    session.update(data)
    update = await store.commit(session, 200)
    assert update is not None
    assert update.value is not None
    return update.value


async def test_an_unchanged_view_is_never_dumped(store: SessionStore[Any]) -> None:
    cookie = await a_session(store, items=["a"], owner=None)
    CountingCart.dumps = 0
    session = await load(store, cookie)
    cart = session.model(CountingCart)
    assert cart.items == ["a"]
    assert session.get("owner") is None  # a read syncs the views: nothing changed
    assert await store.commit(session, 200) is None
    assert not session.state.changed
    assert CountingCart.dumps == 0


async def test_a_changed_view_is_dumped_once_at_commit(
    store: SessionStore[Any], backend: MemoryBackend
) -> None:
    cookie = await a_session(store, items=["a"])
    CountingCart.dumps = 0
    session = await load(store, cookie)
    session.model(CountingCart).items.append("b")
    await store.commit(session, 200)
    assert CountingCart.dumps == 1
    assert stored_data(backend)["items"] == ["a", "b"]


@pytest.mark.parametrize(
    ("before", "after"),
    [(1, 1.0), (1.0, 1), (1, True), (True, 1), (0, False), ("1", 1), ([1], (1,))],
    ids=["int-float", "float-int", "int-bool", "bool-int", "zero-false", "str-int", "same-json"],
)
async def test_a_change_counts_when_the_json_differs(
    store: SessionStore[Any], backend: MemoryBackend, before: Any, after: Any
) -> None:
    cookie = await a_session(store, value=before)
    session = await load(store, cookie)
    session.model(Cart).value = after
    await store.commit(session, 200)
    stored = stored_data(backend)["value"]
    assert json.dumps(stored) == json.dumps(after)
    assert session.state.changed is (json.dumps(before) != json.dumps(after))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
async def test_a_field_set_to_nan_or_infinity_is_refused_by_name(
    store: SessionStore[Any], backend: MemoryBackend, bad: float
) -> None:
    # Pydantic writes NaN as null, like the None it replaces: the view must still see a change.
    cookie = await a_session(store, items=["a"])
    before = stored_data(backend)
    session = await load(store, cookie)
    session.model(Cart).score = bad
    with pytest.raises(SessionNotSerializableError, match="'score'"):
        await store.commit(session, 200)
    assert stored_data(backend) == before


async def test_keys_dropped_at_log_in_stay_dropped_unless_changed_after(
    store: SessionStore[Any], backend: MemoryBackend
) -> None:
    cookie = await a_session(store, items=["a"], owner="anonymous", value=1)
    session = await load(store, cookie)
    cart = session.model(Cart)
    session.regenerate(keep=["items"])
    cart.value = 2  # changed after the log-in: saved
    await store.commit(session, 200)
    assert stored_data(backend) == {"items": ["a"], "value": 2}


async def test_a_field_dropped_at_log_in_and_set_again_is_saved(
    store: SessionStore[Any], backend: MemoryBackend
) -> None:
    cookie = await a_session(store, items=["a"], owner="anonymous")
    session = await load(store, cookie)
    cart = session.model(Cart)
    session.regenerate(keep=["items"])
    cart.owner = "alice"
    cart.items.append("b")
    await store.commit(session, 200)
    assert stored_data(backend) == {"items": ["a", "b"], "owner": "alice"}
