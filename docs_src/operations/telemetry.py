"""OpenTelemetry spans and metrics of the sessions.

The otel extra brings the OpenTelemetry API; the application brings an SDK:
pip install "starlette-session[fastapi,otel]>=1.0" opentelemetry-sdk
"""

import os

from fastapi import FastAPI
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider

from starlette_session import SessionMiddleware, SessionStore
from starlette_session.telemetry import instrument

# Your application sets its providers up once (with exporters: OTLP, Prometheus...).
trace.set_tracer_provider(TracerProvider())
metrics.set_meter_provider(MeterProvider())

store = SessionStore()
# the global providers; or instrument(store, tracer_provider, meter_provider)
instrument(store)

app = FastAPI()
app.add_middleware(
    SessionMiddleware, secret_key=os.environ["SESSION_SECRET"], store=store
)
# Spans are recorded within traced requests only: trace them too, for example with
# FastAPIInstrumentor.instrument_app(app) (opentelemetry-instrumentation-fastapi).
