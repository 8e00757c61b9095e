"""OpenTelemetry traces and metrics of a store's sessions (the ``otel`` extra).

``instrument(store)`` observes the store's operations and events (nothing else in the library
imports OpenTelemetry). Within a traced request (a recording current span), each load, commit
and WebSocket save that does something is a span ``session.load``, ``session.commit`` or
``session.save``, child of the request's span and parent of the backend client's; outside one,
no span. Each has a point in the histogram ``session.<name>.duration``; the events are the
observable counters of :data:`COUNTERS`. docs/operations.md lists the attributes: fixed words
and counts, never an id, a cookie, a store key, a user or a secret.
"""

from __future__ import annotations

import functools
import importlib.metadata
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from starlette_session.events import Operation, SessionEvent, SessionEventInfo
from starlette_session.store import SessionStore

try:
    from opentelemetry import context, metrics, trace
    from opentelemetry.metrics import CallbackOptions, Observation
    from opentelemetry.trace import Status, StatusCode
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
    *,
    commit_durations: bool = False,
) -> None:
    """Trace and measure ``store``'s sessions with OpenTelemetry (the global providers unless
    given): spans within traced requests, the duration of each load, the events' counts.
    ``commit_durations=True`` also records each commit's and save's duration (one more
    histogram point for a request that changes its session). Calling it again for the same
    store does nothing."""
    if store in _instrumented:
        return
    _instrumented.add(store)
    tracer = trace.get_tracer("starlette_session", VERSION, tracer_provider=tracer_provider)
    meter = metrics.get_meter("starlette_session", VERSION, meter_provider=meter_provider)
    counts = _Counts(store)
    for event, (name, unit, description) in COUNTERS.items():
        # Counted here and read by the SDK when it collects: the same sums as a Counter's, at
        # the cost of a dict update per event instead of a measurement through the SDK.
        callbacks = [counts.callback(event)]
        meter.create_observable_counter(name, callbacks, unit, description)
        store.on(event, counts.add)
    timed = ("load", "commit", "save") if commit_durations else ("load",)
    store.observe(_Observer(store, tracer, meter, timed))


@functools.cache
def _backend(class_name: str) -> str:
    """``RedisBackend`` -> ``redis``: the ``session.backend`` attribute."""
    return class_name.removesuffix("Backend").lower() or "backend"


@functools.cache
def _attributes(backend: str, name: str, value: str | None) -> dict[str, str]:
    """A data point's attributes, made once for each of a handful of combinations."""
    return (
        {"session.backend": backend} if value is None else {"session.backend": backend, name: value}
    )


class _Counts:
    """Each event's count, by backend and reason, for the SDK to collect."""

    def __init__(self, store: SessionStore[Any]) -> None:
        self.store = store
        self.lock = threading.Lock()  # handlers may run on several threads' event loops
        self.totals: dict[SessionEvent, dict[tuple[str, str | None], int]] = {
            event: {} for event in COUNTERS
        }

    def add(self, info: SessionEventInfo) -> None:
        totals = self.totals[info.event]
        key = (_backend(type(self.store.backend).__name__), info.reason)
        with self.lock:
            totals[key] = totals.get(key, 0) + 1

    def callback(self, event: SessionEvent) -> Callable[[CallbackOptions], Iterable[Observation]]:
        totals = self.totals[event]

        def observe(options: CallbackOptions) -> Iterable[Observation]:
            with self.lock:
                found = list(totals.items())
            return [Observation(n, _attributes(b, "session.reason", r)) for (b, r), n in found]

        return observe


class _Span:
    """An operation's span, begun just before its first backend call (so that the backend
    client's spans are its children), or when it ends if it made none."""

    __slots__ = ("name", "span", "start", "token", "tracer")

    def __init__(self, tracer: trace.Tracer, name: str) -> None:
        self.tracer, self.name, self.start = tracer, name, time.time_ns()
        self.span: trace.Span | None = None
        self.token: object = None

    def begin(self) -> None:
        self.span = self.tracer.start_span(self.name, start_time=self.start)
        self.token = context.attach(trace.set_span_in_context(self.span))

    def end(self, operation: Operation, attributes: dict[str, str]) -> None:
        span = self.span
        if span is None:
            span = self.tracer.start_span(self.name, start_time=self.start)
        else:
            context.detach(self.token)  # type: ignore[arg-type]
        span.set_attributes({**attributes, "session.round_trips": operation.round_trips})
        if operation.error is not None:
            span.set_attribute("error.type", type(operation.error).__name__)
            span.set_status(Status(StatusCode.ERROR, type(operation.error).__name__))
        span.end()


class _Observer:
    """A span for each operation within a traced request, and the durations of the ``timed``
    operations; nothing for a commit that made no backend call and had nothing to do."""

    def __init__(
        self,
        store: SessionStore[Any],
        tracer: trace.Tracer,
        meter: metrics.Meter,
        timed: tuple[str, ...],
    ) -> None:
        self.store, self.tracer = store, tracer
        self.durations = {
            name: meter.create_histogram(
                f"session.{name}.duration",
                unit="s",
                description=f"How long a session {name} takes",
                explicit_bucket_boundaries_advisory=BUCKETS,
            )
            for name in timed
        }

    def started(self, operation: Operation) -> _Span | None:
        if not trace.get_current_span().is_recording():
            return None  # not a traced request (or one its sampler dropped): no span
        span = _Span(self.tracer, f"session.{operation.name}")
        operation.first_call = span.begin
        return span

    def finished(self, operation: Operation, span: _Span | None) -> None:
        outcome = operation.outcome
        if outcome == "unchanged" and not operation.round_trips and operation.error is None:
            return
        attributes = _attributes(
            _backend(type(self.store.backend).__name__), "session.outcome", outcome
        )
        if span is not None:
            span.end(operation, attributes)
        histogram = self.durations.get(operation.name)
        if histogram is not None:
            histogram.record(operation.duration, attributes)
