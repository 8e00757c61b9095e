"""OpenTelemetry on a store's events and operations (the ``otel`` extra; nothing else imports
it): spans within traced requests, each load's duration, the events as observable counters.
docs/operations.md lists what is recorded, why, and what it costs.
"""

from __future__ import annotations

import functools
import importlib.metadata
import threading
import time
from collections.abc import Iterable
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
    if any(isinstance(observer, _Telemetry) for observer in store.events.observers):
        return
    tracer = trace.get_tracer("starlette_session", VERSION, tracer_provider=tracer_provider)
    meter = metrics.get_meter("starlette_session", VERSION, meter_provider=meter_provider)
    durations = {
        name: meter.create_histogram(
            f"session.{name}.duration",
            unit="s",
            description=f"How long a session {name} takes",
            explicit_bucket_boundaries_advisory=BUCKETS,
        )
        for name in (("load", "commit", "save") if commit_durations else ("load",))
    }
    telemetry = _Telemetry(store, tracer, durations)
    for event, (name, unit, description) in COUNTERS.items():
        callback = functools.partial(telemetry.observe, event)
        meter.create_observable_counter(name, [callback], unit, description)
    store.events.tally(telemetry.count)
    store.observe(telemetry)


@functools.cache
def _attributes(backend_class: str, name: str, value: str | None) -> dict[str, str]:
    """A data point's attributes (``RedisBackend`` -> ``redis``), made once for each of a
    handful of combinations."""
    backend = backend_class.removesuffix("Backend").lower() or "backend"
    return {"session.backend": backend} | ({} if value is None else {name: value})


class _Telemetry:
    """A store's observer (spans, durations) and event tally (counts, which the SDK reads when
    it collects: a dict update per event instead of a measurement through the SDK)."""

    def __init__(
        self,
        store: SessionStore[Any],
        tracer: trace.Tracer,
        durations: dict[str, metrics.Histogram],
    ) -> None:
        self.store, self.tracer, self.durations = store, tracer, durations
        self.lock = threading.Lock()  # tallies may run on several threads' event loops
        self.counts: dict[tuple[SessionEvent, str, str | None], int] = {}

    def count(self, infos: list[SessionEventInfo]) -> None:
        backend, counts = type(self.store.backend).__name__, self.counts
        with self.lock:
            for info in infos:
                key = (info.event, backend, info.reason)
                counts[key] = counts.get(key, 0) + 1

    def observe(self, event: SessionEvent, options: CallbackOptions) -> Iterable[Observation]:
        with self.lock:
            found = [(key, n) for key, n in self.counts.items() if key[0] is event]
        return [Observation(n, _attributes(b, "session.reason", r)) for (_, b, r), n in found]

    def started(self, operation: Operation) -> _Span | None:
        if not trace.get_current_span().is_recording():
            return None  # not a traced request (or one its sampler dropped)
        span = _Span(self.tracer, f"session.{operation.name}")
        operation.first_call = span.begin
        return span

    def finished(self, operation: Operation, span: _Span | None) -> None:
        outcome = operation.outcome
        if outcome == "unchanged" and not operation.round_trips and operation.error is None:
            return  # a commit that made no backend call and had nothing to do
        backend = type(self.store.backend).__name__
        attributes = _attributes(backend, "session.outcome", outcome)
        if span is not None:
            span.end(operation, attributes)
        histogram = self.durations.get(operation.name)
        if histogram is not None:
            histogram.record(operation.duration, attributes)


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
