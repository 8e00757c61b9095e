"""OpenTelemetry spans and metrics of a store, read back with the SDK's in-memory exporter and
metric reader, on the memory backend and a real redis-server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis.asyncio

pytest.importorskip("opentelemetry.sdk")

from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import StatusCode
from starlette.routing import WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket

from starlette_session import SessionStore, load_session
from starlette_session.backends import MemoryBackend, RedisBackend, SessionBackend
from starlette_session.telemetry import instrument
from tests.helpers import SECRET, make_app
from tests.servers import RedisServer
from tests.test_events import BASE

SPAN_ATTRIBUTES = {"session.backend", "session.outcome", "session.round_trips"}


class Telemetry:
    """An SDK tracer provider and meter provider that keep everything in memory."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        spans = self.exporter.get_finished_spans()
        return [span for span in spans if name is None or span.name == name]

    def metrics(self) -> dict[str, list[tuple[dict[str, Any], Any]]]:
        """Each metric's data points, as (attributes, value or count)."""
        found: dict[str, list[tuple[dict[str, Any], Any]]] = {}
        data = self.reader.get_metrics_data()
        assert data is not None
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    found[metric.name] = [
                        (dict(point.attributes or {}), getattr(point, "value", None) or point.count)  # type: ignore[union-attr]
                        for point in metric.data.data_points
                    ]
        return found

    def units(self) -> dict[str, str]:
        data = self.reader.get_metrics_data()
        assert data is not None
        return {
            metric.name: metric.unit or ""
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
        }


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    telemetry = Telemetry()
    yield telemetry
    telemetry.tracer_provider.shutdown()
    telemetry.meter_provider.shutdown()


def instrumented(
    backend: SessionBackend, telemetry: Telemetry, *, commit_durations: bool = False
) -> SessionStore[Any]:
    store: SessionStore[Any] = SessionStore(backend)
    providers = telemetry.tracer_provider, telemetry.meter_provider
    instrument(store, *providers, commit_durations=commit_durations)
    return store


def traced(app: Any, tracer_provider: trace.TracerProvider) -> Any:
    """``app`` with a server span around each HTTP request, as an ASGI instrumentation makes."""
    tracer = tracer_provider.get_tracer("the server")

    async def traced_app(scope: Any, receive: Any, send: Any) -> None:
        with tracer.start_as_current_span("request", kind=trace.SpanKind.SERVER):
            await app(scope, receive, send)

    return traced_app


async def test_spans_for_load_and_commit(backend: SessionBackend, telemetry: Telemetry) -> None:
    store = instrumented(backend, telemetry)
    name = "redis" if isinstance(backend, RedisBackend) else "memory"
    app = traced(make_app(store), telemetry.tracer_provider)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE) as http:
        await http.get("/set", params={"a": "1"})  # new: nothing read, one create
        await http.get("/get")  # one read, nothing written: a commit with nothing to do
        await http.get("/set", params={"a": "2"})  # one read, one compare-and-set

    spans = [
        (span.name, dict(span.attributes or {}))
        for span in telemetry.spans()
        if span.name != "request"
    ]
    outcomes = [(span, attributes["session.outcome"]) for span, attributes in spans]
    assert outcomes == [
        ("session.load", "new"),
        ("session.commit", "created"),
        ("session.load", "found"),
        ("session.load", "found"),
        ("session.commit", "saved"),
    ]
    assert [attributes["session.round_trips"] for _, attributes in spans] == [0, 1, 1, 1, 1]
    for _, attributes in spans:
        assert set(attributes) == SPAN_ATTRIBUTES
        assert attributes["session.backend"] == name
    assert all(span.status.status_code is StatusCode.UNSET for span in telemetry.spans())


class TracedBackend(MemoryBackend):
    """The memory backend, with a span around each read as a traced client would make."""

    def __init__(self, tracer: trace.Tracer) -> None:
        super().__init__()
        self.tracer = tracer

    async def read(self, key: str, ttl: int | None = None) -> bytes | None:
        with self.tracer.start_as_current_span("backend read"):
            return await super().read(key, ttl)


async def test_session_spans_sit_between_the_request_and_the_backend_client(
    telemetry: Telemetry,
) -> None:
    tracer = telemetry.tracer_provider.get_tracer("the app")
    store = instrumented(TracedBackend(tracer), telemetry)
    app = make_app(store)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE) as http:
        await http.get("/set", params={"a": "1"})
        with tracer.start_as_current_span("request"):
            await http.get("/get")

    request = telemetry.spans("request")[0]
    load = telemetry.spans("session.load")[-1]
    read = telemetry.spans("backend read")[-1]
    assert load.parent is not None
    assert load.parent.span_id == request.context.span_id
    assert read.parent is not None
    assert read.parent.span_id == load.context.span_id


async def test_a_commit_with_nothing_to_do_has_no_span_and_no_duration(
    backend: SessionBackend, telemetry: Telemetry
) -> None:
    store = instrumented(backend, telemetry, commit_durations=True)
    app = traced(make_app(store), telemetry.tracer_provider)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE) as http:
        await http.get("/set", params={"a": "1"})
        for _ in range(3):
            await http.get("/get")

    assert [span.name for span in telemetry.spans()].count("session.commit") == 1
    commits = telemetry.metrics()["session.commit.duration"]
    assert [(attributes["session.outcome"], count) for attributes, count in commits] == [
        ("created", 1)
    ]
    loads = telemetry.metrics()["session.load.duration"]
    assert sorted((attributes["session.outcome"], count) for attributes, count in loads) == [
        ("found", 3),
        ("new", 1),
    ]
    name = "redis" if isinstance(backend, RedisBackend) else "memory"
    assert telemetry.metrics()["session.loaded"] == [({"session.backend": name}, 3)]


async def test_a_commit_span_begins_with_the_commit_and_parents_its_backend_calls(
    telemetry: Telemetry,
) -> None:
    tracer = telemetry.tracer_provider.get_tracer("the app")

    class TracedWrites(MemoryBackend):
        async def create(
            self, key: str, value: bytes, ttl: int | None, *, logged_in: bool = False
        ) -> bool:
            with tracer.start_as_current_span("backend create"):
                return await super().create(key, value, ttl, logged_in=logged_in)

    store = instrumented(TracedWrites(), telemetry)
    app = traced(make_app(store), telemetry.tracer_provider)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE) as http:
        await http.get("/set", params={"a": "1"})

    commit = telemetry.spans("session.commit")[0]
    create = telemetry.spans("backend create")[0]
    assert create.parent is not None
    assert create.parent.span_id == commit.context.span_id
    assert commit.start_time is not None
    assert create.start_time is not None
    assert commit.start_time <= create.start_time


async def test_metrics_follow_the_semantic_conventions_style(
    backend: SessionBackend, telemetry: Telemetry
) -> None:
    store = instrumented(backend, telemetry, commit_durations=True)
    app = make_app(store)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE) as http:
        await http.get("/set", params={"a": "1"})
        await http.get("/login", params={"user": "alice"})
        await http.get("/revoke-others")
        await http.get("/logout")
        http.cookies.set("session", "forged.0.AAAA")
        await http.get("/get")

    metrics = telemetry.metrics()
    name = "redis" if isinstance(backend, RedisBackend) else "memory"
    loads = {
        attributes["session.outcome"]: count
        for attributes, count in metrics["session.load.duration"]
    }
    assert loads == {"new": 1, "found": 3, "tampered": 1}
    assert telemetry.units()["session.load.duration"] == "s"
    assert telemetry.units()["session.commit.duration"] == "s"
    assert metrics["session.created"] == [({"session.backend": name}, 1)]
    assert metrics["session.rotated"] == [
        ({"session.backend": name, "session.reason": "regenerate"}, 1)
    ]
    assert metrics["session.destroyed"] == [
        ({"session.backend": name, "session.reason": "destroy"}, 1)
    ]
    assert metrics["session.tampered"] == [
        ({"session.backend": name, "session.reason": "signature"}, 1)
    ]
    assert "session.revoked" not in metrics  # nothing else to revoke
    assert telemetry.units()["session.created"] == "{session}"


@pytest.mark.redis
async def test_a_backend_failure_is_an_error_span_and_counted(
    fresh_redis_server: RedisServer, telemetry: Telemetry
) -> None:
    client = redis.asyncio.Redis.from_url(fresh_redis_server.url)
    store = instrumented(RedisBackend(client, timeout=1.0), telemetry)
    app = traced(make_app(store), telemetry.tracer_provider)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE) as http:
        await http.get("/set", params={"a": "1"})
        fresh_redis_server.kill()
        assert (await http.get("/get")).status_code == 503
    await client.aclose()

    load = telemetry.spans("session.load")[-1]
    assert load.status.status_code is StatusCode.ERROR
    assert dict(load.attributes or {}) == {
        "session.backend": "redis",
        "session.outcome": "backend_error",
        "session.round_trips": 1,
        "error.type": "SessionBackendError",
    }
    assert telemetry.metrics()["session.backend.errors"] == [
        ({"session.backend": "redis", "session.reason": "load"}, 1)
    ]


async def test_no_id_key_user_or_secret_in_any_attribute(
    backend: SessionBackend, telemetry: Telemetry
) -> None:
    store = instrumented(backend, telemetry)
    app = traced(make_app(store), telemetry.tracer_provider)
    secrets: set[str] = {SECRET, "alice"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE) as http:
        for _ in range(2):
            await http.get("/set", params={"a": "1"})
            secrets |= {http.cookies["session"], http.cookies["session"].split(".")[0]}
            await http.get("/login", params={"user": "alice"})
            cookie = http.cookies["session"]
            secrets |= {cookie, cookie.split(".")[0]}
            unsigned = store.signer.unsign(cookie)
            assert unsigned is not None
            secrets.add(store.storage_key(unsigned.payload))
            await http.get("/revoke-others")
            await http.get("/logout")
            http.cookies.clear()

    values = []
    assert telemetry.spans("session.load")
    for span in telemetry.spans():
        values += [span.name, *map(str, (span.attributes or {}).values())]
        values += [
            str(value) for event in span.events for value in (event.attributes or {}).values()
        ]
    for points in telemetry.metrics().values():
        values += [str(value) for attributes, _ in points for value in attributes.values()]
    assert values
    for value in values:
        for secret in secrets:
            assert secret not in value


def test_instrumenting_twice_counts_once(telemetry: Telemetry) -> None:
    store: SessionStore[Any] = SessionStore()
    instrument(store, telemetry.tracer_provider, telemetry.meter_provider)
    instrument(store, telemetry.tracer_provider, telemetry.meter_provider)
    assert len(store.events.observers) == 1


async def test_no_span_outside_a_traced_request_but_every_load_duration_and_count(
    backend: SessionBackend, telemetry: Telemetry
) -> None:
    app = make_app(instrumented(backend, telemetry))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE) as http:
        await http.get("/set", params={"a": "1"})  # no request span at all
        await http.get("/get")
    # A request span that its sampler dropped: not recording.
    unsampled = traced(app, TracerProvider(sampler=ALWAYS_OFF))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(unsampled), base_url=BASE) as http:
        http.cookies.set("session", "forged.0.AAAA")
        await http.get("/set", params={"a": "2"})

    assert telemetry.spans() == []
    metrics = telemetry.metrics()
    name = "redis" if isinstance(backend, RedisBackend) else "memory"
    loads = sorted((a["session.outcome"], n) for a, n in metrics["session.load.duration"])
    assert loads == [("found", 1), ("new", 1), ("tampered", 1)]
    assert "session.commit.duration" not in metrics  # unless commit_durations=True
    assert metrics["session.created"] == [({"session.backend": name}, 2)]
    assert metrics["session.loaded"] == [({"session.backend": name}, 1)]


async def _save_over_a_websocket(websocket: WebSocket) -> None:
    session = await load_session(websocket)
    await websocket.accept()
    session["a"] = "2"
    await session.save()
    await websocket.send_json({"saved": True})
    await websocket.close()


def test_a_websocket_save_is_a_span_and_with_commit_durations_a_duration(
    telemetry: Telemetry,
) -> None:
    store = instrumented(MemoryBackend(), telemetry, commit_durations=True)
    app = make_app(store, routes=[WebSocketRoute("/ws", _save_over_a_websocket)])
    with TestClient(traced(app, telemetry.tracer_provider), base_url=BASE) as client:
        client.get("/set", params={"a": "1"})
        with client.websocket_connect("/ws") as websocket:
            assert websocket.receive_json() == {"saved": True}

    save = telemetry.spans("session.save")[0]
    assert dict(save.attributes or {}) == {
        "session.backend": "memory",
        "session.outcome": "saved",
        "session.round_trips": 1,
    }
    durations = telemetry.metrics()["session.save.duration"]
    assert [(attributes["session.outcome"], n) for attributes, n in durations] == [("saved", 1)]
    assert telemetry.metrics()["session.saved"] == [({"session.backend": "memory"}, 1)]
