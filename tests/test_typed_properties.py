"""Properties of typed sessions over generated models (hypothesis), through HTTP.

Models are generated from the field kinds Pydantic supports (scalars, Enum, datetime, date,
time, timedelta, UUID, Decimal, bytes, sets, frozensets, tuples, lists, dicts, nested models,
optional fields, aliases) and for each:

- unchanged: a read writes nothing and sends no cookie, for a new visitor and a stored session;
- changed: the next request reads back values equal to those set;
- two requests changing different fields at once: both changes are kept.

The fast variant runs a few examples on memory; the one marked ``slow`` runs many more on memory
and on a real redis-server.
"""

from __future__ import annotations

import asyncio
import datetime
import decimal
import enum
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from fastapi import APIRouter, Request
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.alias_generators import to_camel

from starlette_session import SessionStore, load_session
from starlette_session.backends import MemoryBackend, SessionBackend
from tests.helpers import RedisClients
from tests.typed_support import TypedApp, client


class Colour(enum.Enum):
    RED = "red"
    GREEN = "green"


class Size(enum.IntEnum):
    SMALL = 1
    LARGE = 2


class Inner(BaseModel):
    label: str = ""
    counts: list[int] = []
    when: datetime.date | None = None


text = st.text(st.characters(codec="utf-8"), max_size=8)
ints = st.integers(-(2**53), 2**53)
floats = st.floats(allow_nan=False, allow_infinity=False, width=64)
utc = datetime.timezone.utc

#: Field kinds: (annotation, default, strategy of values).
KINDS: list[tuple[Any, Any, st.SearchStrategy[Any]]] = [
    (str, "", text),
    (int, 0, ints),
    (float, 0.0, floats),
    (bool, False, st.booleans()),
    (Colour, Colour.RED, st.sampled_from(Colour)),
    (Size, Size.SMALL, st.sampled_from(Size)),
    (datetime.datetime, datetime.datetime(2000, 1, 1), st.datetimes()),
    (
        datetime.datetime,
        datetime.datetime(2000, 1, 1, tzinfo=utc),
        st.datetimes(timezones=st.just(utc)),
    ),
    (datetime.date, datetime.date(2000, 1, 1), st.dates()),
    (datetime.time, datetime.time(0, 0), st.times()),
    (
        datetime.timedelta,
        datetime.timedelta(0),
        st.timedeltas(datetime.timedelta(days=-999), datetime.timedelta(days=999)),
    ),
    (uuid.UUID, uuid.UUID(int=0), st.uuids()),
    (
        decimal.Decimal,
        decimal.Decimal(0),
        st.decimals(allow_nan=False, allow_infinity=False, places=4, max_value=10**12),
    ),
    (bytes, b"", text.map(str.encode)),
    (set[int], set(), st.sets(ints, max_size=4)),
    (frozenset[str], frozenset(), st.frozensets(text, max_size=4)),
    (tuple[int, str], (0, ""), st.tuples(ints, text)),
    (list[str], [], st.lists(text, max_size=4)),
    (dict[str, int], {}, st.dictionaries(text, ints, max_size=4)),
    (
        Inner,
        Inner(),
        st.builds(
            Inner, label=text, counts=st.lists(ints, max_size=3), when=st.none() | st.dates()
        ),
    ),
]


class Spec:
    """A generated model, with values to set on some of its fields."""

    def __init__(self, model: type[BaseModel], strategies: dict[str, st.SearchStrategy[Any]]):
        self.model = model
        self.strategies = strategies

    def __repr__(self) -> str:
        fields = {name: info.annotation for name, info in self.model.model_fields.items()}
        return f"Spec({self.model.model_config}, {fields})"


@st.composite
def specs(draw: st.DrawFn) -> Spec:
    count = draw(st.integers(2, 6))
    fields: dict[str, Any] = {}
    strategies: dict[str, st.SearchStrategy[Any]] = {}
    camel = draw(st.booleans())
    for index in range(count):
        annotation, default, values = draw(st.sampled_from(KINDS))
        if draw(st.booleans()):
            annotation, values = annotation | None, st.none() | values
        name = f"field_{index}_value"
        alias = f"f{index}Alias" if draw(st.booleans()) and not camel else None
        fields[name] = (annotation, Field(default=default, alias=alias))
        strategies[name] = values
    config = ConfigDict(
        alias_generator=to_camel if camel else None,
        populate_by_name=True,
        extra=draw(st.sampled_from(["ignore", "allow"])),
    )
    model: type[BaseModel] = create_model("Generated", __config__=config, **fields)
    return Spec(model, strategies)


@st.composite
def cases(draw: st.DrawFn) -> tuple[Spec, dict[str, Any], dict[str, Any]]:
    """A model, and two sets of values for two disjoint groups of its fields."""
    spec = draw(specs())
    names = list(spec.strategies)
    first_names = draw(st.lists(st.sampled_from(names), min_size=1, unique=True))
    rest = [name for name in names if name not in first_names]
    second_names = draw(st.lists(st.sampled_from(rest), unique=True)) if rest else []
    first = {name: draw(spec.strategies[name]) for name in first_names}
    second = {name: draw(spec.strategies[name]) for name in second_names}
    return spec, first, second


# The app: endpoints over the model kept in app.state, values passed by the test in-process


router = APIRouter()


async def view(request: Request) -> Any:
    session = await load_session(request)
    return session.model(request.app.state.model)


@router.get("/read")
async def read(request: Request) -> dict[str, Any]:
    instance = await view(request)
    dumped: dict[str, Any] = instance.model_dump(mode="json", by_alias=True)
    return dumped


@router.post("/seed")
async def seed(request: Request) -> None:
    (await load_session(request))["seed"] = 1  # a stored session the model is first used in


@router.post("/change/{name}")
async def change(name: str, request: Request) -> None:
    instance = await view(request)
    for field, value in request.app.state.values[name].items():
        setattr(instance, field, value)
    gate = request.app.state.gates.get(name)
    if gate is not None:
        changed, release = gate
        changed.set()
        await release.wait()


async def check(spec: Spec, first: dict[str, Any], second: dict[str, Any], backend: Any) -> None:
    SessionStore(model=spec.model)  # a generated model is never refused
    app = TypedApp(SessionStore(backend, model=spec.model), router.routes)
    app.app.state.model = spec.model
    app.app.state.values = {"first": first, "second": second}
    app.app.state.gates = {}
    model = spec.model
    expected = model.model_validate({})
    for name, value in {**first, **second}.items():
        setattr(expected, name, value)

    async with client(app) as browser:
        # Unchanged: no write, no cookie.
        response = await browser.get("/read")
        assert response.status_code == 200
        assert "set-cookie" not in response.headers
        assert app.total_writes() == 0

        # Changed: read back equal in the next request; read again: nothing written.
        await browser.post("/change/first")
        if not browser.cookies:  # the values set were the defaults: nothing to store
            assert app.total_writes() == 0
            assert all(getattr(model(), name) == value for name, value in first.items())
        after_first = model.model_validate((await browser.get("/read")).json())
        for name, value in first.items():
            assert getattr(after_first, name) == value, name
        app.writes.clear()
        response = await browser.get("/read")
        assert "set-cookie" not in response.headers
        assert app.total_writes() == 0

    if not second:
        return
    async with client(app) as browser:
        # Two requests changing different fields at once, in a stored session: both kept.
        await browser.post("/seed")
        gates = app.app.state.gates
        for name in ("first", "second"):
            gates[name] = (asyncio.Event(), asyncio.Event())
        await together(browser, gates)
        both = model.model_validate((await browser.get("/read")).json())
    for name, value in {**first, **second}.items():
        assert getattr(both, name) == value, name


async def together(browser: Any, gates: dict[str, Any]) -> None:
    """Both requests change their fields before either saves; the first saves first."""
    first = asyncio.create_task(browser.post("/change/first"))
    await gates["first"][0].wait()
    second = asyncio.create_task(browser.post("/change/second"))
    await gates["second"][0].wait()
    gates["first"][1].set()
    assert (await first).status_code == 200
    gates["second"][1].set()
    assert (await second).status_code == 200


def run(coroutine: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(coroutine())  # type: ignore[arg-type]


@settings(max_examples=25, deadline=None)
@given(cases())
def test_generated_models_round_trip_without_invented_writes_or_lost_fields(
    case: tuple[Spec, dict[str, Any], dict[str, Any]],
) -> None:
    spec, first, second = case
    run(lambda: check(spec, first, second, MemoryBackend()))


@pytest.mark.slow
@pytest.mark.redis
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cases())
def test_many_generated_models_on_memory_and_redis(
    redis_url: str, case: tuple[Spec, dict[str, Any], dict[str, Any]]
) -> None:
    spec, first, second = case
    run(lambda: check(spec, first, second, MemoryBackend()))

    async def on_redis() -> None:
        from starlette_session.backends import RedisBackend

        clients = RedisClients()
        try:
            backend: SessionBackend = RedisBackend(clients.asyncio(redis_url))
            await check(spec, first, second, backend)
        finally:
            await clients.aclose()

    run(on_redis)
