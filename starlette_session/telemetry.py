"""OpenTelemetry traces and metrics of a store's sessions (the ``otel`` extra).

``instrument(store)`` registers, on the store's events (``store.on``, ``store.observe``; the
rest of the library imports no OpenTelemetry):

- a span per operation, ``session.load``, ``session.commit`` and ``session.save`` (a WebSocket
  save), child of the request's span and parent of the backend client's, with the attributes
  ``session.backend`` (``memory``, ``redis``, ``sql``...), ``session.outcome`` (``found``,
  ``new``, ``saved``, ``created``, ``unchanged``, ``conflict``, ``backend_error``...) and
  ``session.round_trips`` (backend calls); on failure the status is an error and ``error.type``
  names the exception class;
- histograms ``session.load.duration``, ``session.commit.duration`` and
  ``session.save.duration`` in seconds, by backend and outcome;
- counters ``session.created``, ``session.loaded``, ``session.saved``, ``session.rotated``,
  ``session.destroyed``, ``session.revoked``, ``session.expired``, ``session.conflicts``,
  ``session.backend.errors`` and ``session.tampered``, by backend and ``session.reason``.

No attribute ever holds a session id, a cookie, a store key, a user id or a secret: only the
fixed words above and counts, so every attribute has a handful of values.
"""

from __future__ import annotations

import importlib.metadata
import weakref
from typing import Any

from starlette_session.events import Operation, SessionEvent, SessionEventInfo
from starlette_session.store import SessionStore

try:
    from opentelemetry import context, metrics, trace
    from opentelemetry.trace import SpanKind, Status, StatusCode
except ImportError as error:  # pragma: no cover - exercised by the no-extras CI run
    raise ImportError(
        "starlette_session.telemetry needs OpenTelemetry: pip install 'starlette-session[otel]'"
    ) from error

__all__ = ["COUNTERS", "instrument"]

#: Each event's counter: name, unit, description.
COUNTERS: dict[SessionEvent, tuple[str, str, str]] = {
    SessionEvent.created: ("session.created", "{session}", "Sessions stored for the first time"),
    SessionEvent.loaded: ("session.loaded", "{session}", "Stored sessions read"),
    SessionEvent.saved: ("session.saved", "{session}", "Changed sessions written back"),
    SessionEvent.rotated: ("session.rotated", "{session}", "Sessions given a new id"),
    SessionEvent.destroyed: ("session.destroyed", "{session}", "Sessions ended by log-out"),
    SessionEvent.revoked: ("session.revoked", "{session}", "Sessions ended from elsewhere"),
    SessionEvent.expired: ("session.expired", "{session}", "Cookies of sessions that ended"),
    SessionEvent.conflict: ("session.conflicts", "{conflict}", "Concurrent changes, merged or not"),
    SessionEvent.backend_error: ("session.backend.errors", "{error}", "Backend failures"),
    SessionEvent.tampered: ("session.tampered", "{cookie}", "Cookies that failed verification"),
}
#: Seconds: from a tenth of a millisecond (memory) to seconds (a backend timing out).
BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]
try:
    VERSION = importlib.metadata.version("starlette-session")
except importlib.metadata.PackageNotFoundError:  # pragma: no cover - run from a source tree
    VERSION = "unknown"
_instrumented: weakref.WeakSet[SessionStore[Any]] = weakref.WeakSet()


def instrument(
    store: SessionStore[Any],
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
) -> None:
    """Trace and measure ``store``'s sessions with OpenTelemetry (the global providers unless
    given). Calling it again for the same store does nothing."""
    if store in _instrumented:
        return
    _instrumented.add(store)
    tracer = trace.get_tracer("starlette_session", VERSION, tracer_provider=tracer_provider)
    meter = metrics.get_meter("starlette_session", VERSION, meter_provider=meter_provider)
    for event, (name, unit, description) in COUNTERS.items():
        counter = meter.create_counter(name, unit=unit, description=description)
        store.on(event, _Count(store, counter).add)
    store.observe(_Spans(store, tracer, meter))


def backend_name(store: SessionStore[Any]) -> str:
    """``RedisBackend`` -> ``redis``: the ``session.backend`` attribute."""
    kind = type(store.backend)
    name = _backend_names.get(kind)
    if name is None:
        name = _backend_names[kind] = kind.__name__.removesuffix("Backend").lower() or "backend"
    return name


_backend_names: dict[type[Any], str] = {}


class _Count:
    """Adds one to an event's counter."""

    def __init__(self, store: SessionStore[Any], counter: metrics.Counter) -> None:
        self.store = store
        self.counter = counter
        self.attributes: dict[tuple[str, str | None], dict[str, str]] = {}

    def add(self, info: SessionEventInfo) -> None:
        backend, reason = backend_name(self.store), info.reason
        attributes = self.attributes.get((backend, reason))
        if attributes is None:  # a handful of combinations: made once each
            attributes = {"session.backend": backend}
            if reason is not None:
                attributes["session.reason"] = reason
            self.attributes[backend, reason] = attributes
        self.counter.add(1, attributes)


class _Spans:
    """A span and a duration per observed operation."""

    def __init__(self, store: SessionStore[Any], tracer: trace.Tracer, meter: metrics.Meter):
        self.store = store
        self.tracer = tracer
        self.durations = {
            name: meter.create_histogram(
                f"session.{name}.duration",
                unit="s",
                description=f"How long a session {name} takes",
                explicit_bucket_boundaries_advisory=BUCKETS,
            )
            for name in ("load", "commit", "save")
        }

    def started(self, operation: Operation) -> tuple[trace.Span, object]:
        span = self.tracer.start_span(f"session.{operation.name}", kind=SpanKind.INTERNAL)
        return span, context.attach(trace.set_span_in_context(span))

    def finished(self, operation: Operation, started: tuple[trace.Span, Any]) -> None:
        span, token = started
        context.detach(token)
        backend = backend_name(self.store)
        attributes: dict[str, str | int] = {
            "session.backend": backend,
            "session.outcome": operation.outcome,
            "session.round_trips": operation.round_trips,
        }
        error = operation.error
        if error is not None:
            attributes["error.type"] = type(error).__name__
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        span.set_attributes(attributes)
        span.end()
        histogram = self.durations.get(operation.name)
        if histogram is not None:
            attributes = {"session.backend": backend, "session.outcome": operation.outcome}
            histogram.record(operation.duration, attributes)
