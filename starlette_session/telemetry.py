"""OpenTelemetry traces and metrics of a store's sessions (the ``otel`` extra).

``instrument(store)`` registers, on the store's events (``store.on``, ``store.observe``; the
rest of the library imports no OpenTelemetry):

- a span per operation, ``session.load``, ``session.commit`` and ``session.save`` (a WebSocket
  save), child of the request's span and parent of the backend client's (begun just before the
  operation's first backend call; none for a commit with nothing to write and no backend call),
  with the attributes ``session.backend`` (``memory``, ``redis``, ``sql``...),
  ``session.outcome`` (``found``, ``new``, ``saved``, ``created``, ``unchanged``, ``conflict``,
  ``backend_error``...) and ``session.round_trips`` (backend calls); on failure the status is
  an error and ``error.type`` names the exception class;
- histograms ``session.load.duration``, ``session.commit.duration`` and
  ``session.save.duration`` in seconds, by backend and outcome;
- counters ``session.created``, ``session.loaded``, ``session.saved``, ``session.rotated``,
  ``session.destroyed``, ``session.revoked``, ``session.expired``, ``session.conflicts``,
  ``session.backend.errors`` and ``session.tampered``, by backend and ``session.reason``
  (observable counters: counted here, read by the SDK when it collects).

No attribute ever holds a session id, a cookie, a store key, a user id or a secret: only the
fixed words above and counts, so every attribute has a handful of values.
"""

from __future__ import annotations

import importlib.metadata
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from contextvars import Token
from typing import Any

from starlette_session.events import Operation, SessionEvent, SessionEventInfo
from starlette_session.store import SessionStore

try:
    from opentelemetry import context, metrics, trace
    from opentelemetry.metrics import CallbackOptions, Observation
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
    counts = _Counts(store)
    for event, (name, unit, description) in COUNTERS.items():
        # Counted here, read by the SDK when it collects: an event costs a dict update, not a
        # measurement through the SDK (the exported sums are the same as a Counter's).
        meter.create_observable_counter(
            name, callbacks=[counts.callback(event)], unit=unit, description=description
        )
        store.on(event, counts.add)
    store.observe(_Spans(store, tracer, meter))


def backend_name(store: SessionStore[Any]) -> str:
    """``RedisBackend`` -> ``redis``: the ``session.backend`` attribute."""
    kind = type(store.backend)
    name = _backend_names.get(kind)
    if name is None:
        name = _backend_names[kind] = kind.__name__.removesuffix("Backend").lower() or "backend"
    return name


_backend_names: dict[type[Any], str] = {}


class _Counts:
    """Each event's count, by backend and reason, for the SDK to collect."""

    def __init__(self, store: SessionStore[Any]) -> None:
        self.store = store
        self.lock = threading.Lock()  # handlers may run on several threads' event loops
        self.totals: dict[SessionEvent, dict[tuple[str, str | None], int]] = {
            event: {} for event in COUNTERS
        }
        self.attributes: dict[tuple[str, str | None], dict[str, str]] = {}

    def add(self, info: SessionEventInfo) -> None:
        totals = self.totals[info.event]
        key = (backend_name(self.store), info.reason)
        with self.lock:
            totals[key] = totals.get(key, 0) + 1

    def callback(self, event: SessionEvent) -> Callable[[CallbackOptions], Iterable[Observation]]:
        totals = self.totals[event]

        def observe(options: CallbackOptions) -> Iterable[Observation]:
            with self.lock:
                found = list(totals.items())
            return [Observation(count, self._attributes(key)) for key, count in found]

        return observe

    def _attributes(self, key: tuple[str, str | None]) -> dict[str, str]:
        attributes = self.attributes.get(key)
        if attributes is None:  # a handful of combinations: made once each
            backend, reason = key
            attributes = {"session.backend": backend}
            if reason is not None:
                attributes["session.reason"] = reason
            self.attributes[key] = attributes
        return attributes


class _Started:
    """An operation's span, begun just before its first backend call (so that the backend
    client's spans are its children), or when it ends if it made none."""

    __slots__ = ("name", "span", "start_ns", "token", "tracer")

    def __init__(self, tracer: trace.Tracer, name: str) -> None:
        self.tracer, self.name = tracer, name
        self.start_ns = time.time_ns()
        self.span: trace.Span | None = None
        self.token: Token[context.Context] | None = None

    def begin(self) -> None:
        span = self.span = self.tracer.start_span(
            self.name, kind=SpanKind.INTERNAL, start_time=self.start_ns
        )
        self.token = context.attach(trace.set_span_in_context(span))


class _Spans:
    """A span and a duration per observed operation (none for a commit with nothing to do)."""

    def __init__(self, store: SessionStore[Any], tracer: trace.Tracer, meter: metrics.Meter):
        self.store = store
        self.tracer = tracer
        self.names = {name: f"session.{name}" for name in ("load", "commit", "save")}
        self.durations = {
            name: meter.create_histogram(
                f"session.{name}.duration",
                unit="s",
                description=f"How long a session {name} takes",
                explicit_bucket_boundaries_advisory=BUCKETS,
            )
            for name in ("load", "commit", "save")
        }
        self.span_attributes: dict[tuple[str, str, int], dict[str, str | int]] = {}
        self.metric_attributes: dict[tuple[str, str], dict[str, str]] = {}

    def started(self, operation: Operation) -> _Started:
        name = self.names.get(operation.name) or f"session.{operation.name}"
        started = _Started(self.tracer, name)
        operation.first_call = started.begin
        return started

    def finished(self, operation: Operation, started: _Started) -> None:
        span, outcome, error = started.span, operation.outcome, operation.error
        if span is None:
            if outcome == "unchanged" and error is None:
                return  # a commit that had nothing to write and made no backend call
            span = self.tracer.start_span(
                started.name, kind=SpanKind.INTERNAL, start_time=started.start_ns
            )
        elif started.token is not None:
            context.detach(started.token)
        backend = backend_name(self.store)
        key = (backend, outcome, operation.round_trips)
        attributes = self.span_attributes.get(key)
        if attributes is None:
            attributes = {
                "session.backend": backend,
                "session.outcome": outcome,
                "session.round_trips": operation.round_trips,
            }
            if len(self.span_attributes) < 256:  # a handful of combinations, kept bounded
                self.span_attributes[key] = attributes
        if error is not None:
            attributes = {**attributes, "error.type": type(error).__name__}
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        span.set_attributes(attributes)
        span.end()
        histogram = self.durations.get(operation.name)
        if histogram is not None:
            measured = self.metric_attributes.get((backend, outcome))
            if measured is None:
                measured = {"session.backend": backend, "session.outcome": outcome}
                self.metric_attributes[backend, outcome] = measured
            histogram.record(operation.duration, measured)
