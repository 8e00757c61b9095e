"""OpenTelemetry traces and metrics of a store's sessions (the ``otel`` extra); nothing else in
the library imports OpenTelemetry. docs/operations.md lists what is recorded and its cost.

Spans only within a traced request: a session operation is part of one, and its span the parent
of the backend client's. Per request one histogram point by default, the load's duration. The
events are observable counters, counted here and read by the SDK when it collects.
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
    """Trace and measure ``store``'s sessions (the global providers unless given): spans within
    traced requests, each load's duration, the events' counts; with ``commit_durations=True``,
    each commit's and save's duration too. Calling it again for the same store does nothing."""
    if store in _instrumented:
        return
    _instrumented.add(store)
    tracer = trace.get_tracer("starlette_session", VERSION, tracer_provider=tracer_provider)
    meter = metrics.get_meter("starlette_session", VERSION, meter_provider=meter_provider)
    counts = _Counts(store)
    for event, (name, unit, description) in COUNTERS.items():
        meter.create_observable_counter(name, [counts.callback(event)], unit, description)
        store.on(event, counts.add)
    durations = {
        name: meter.create_histogram(
            f"session.{name}.duration",
            unit="s",
            description=f"How long a session {name} takes",
            explicit_bucket_boundaries_advisory=BUCKETS,
        )
        for name in (("load", "commit", "save") if commit_durations else ("load",))
    }
    store.observe(_Observer(store, tracer, durations))


@functools.cache
def _backend(class_name: str) -> str:
    """``RedisBackend`` -> ``redis``: the ``session.backend`` attribute."""
    return class_name.removesuffix("Backend").lower() or "backend"


@functools.cache
def _attributes(backend: str, name: str, value: str | None) -> dict[str, str]:
    """A data point's attributes, made once for each of a handful of combinations."""
    return {"session.backend": backend} | ({} if value is None else {name: value})


class _Counts:
    """Each event's count, by backend and reason, for the SDK to collect."""

    def __init__(self, store: SessionStore[Any]) -> None:
        self.store = store
        self.lock = threading.Lock()  # handlers may run on several threads' event loops
        self.totals: dict[tuple[SessionEvent, str, str | None], int] = {}

    def add(self, info: SessionEventInfo) -> None:
        key = (info.event, _backend(type(self.store.backend).__name__), info.reason)
        with self.lock:
            self.totals[key] = self.totals.get(key, 0) + 1

    def callback(self, event: SessionEvent) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            with self.lock:
                found = [(key, n) for key, n in self.totals.items() if key[0] is event]
            return [Observation(n, _attributes(b, "session.reason", r)) for (_, b, r), n in found]

        return observe


class _Span:
    """An operation's span, begun just before its first backend call (so that the backend
    client's spans are its children), or when it ends if it made none."""

    __slots__ = ("name", "span", "start", "token", "tracer")

    def __init__(self, tracer: trace.Tracer, name: str) -> None:
        self.tracer, self.name, self.start = tracer, name, time.time_ns()
        self.span: trace.Span | None = None
        self.token: Any = None

    def begin(self) -> None:
        self.span = self.tracer.start_span(self.name, start_time=self.start)
        self.token = context.attach(trace.set_span_in_context(self.span))

    def end(self, operation: Operation, attributes: dict[str, str]) -> None:
        span = self.span
        if span is None:
            span = self.tracer.start_span(self.name, start_time=self.start)
        else:
            context.detach(self.token)
        span.set_attributes({**attributes, "session.round_trips": operation.round_trips})
        if operation.error is not None:
            span.set_attribute("error.type", type(operation.error).__name__)
            span.set_status(Status(StatusCode.ERROR, type(operation.error).__name__))
        span.end()


class _Observer:
    """For each operation but a commit that made no backend call and had nothing to do: its
    span within a traced request, its duration if it is timed."""

    def __init__(
        self,
        store: SessionStore[Any],
        tracer: trace.Tracer,
        durations: dict[str, metrics.Histogram],
    ) -> None:
        self.store, self.tracer, self.durations = store, tracer, durations

    def started(self, operation: Operation) -> _Span | None:
        if not trace.get_current_span().is_recording():
            return None  # not a traced request (or one its sampler dropped)
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
