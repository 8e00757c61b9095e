"""Typed FastAPI path on a Redis Cluster; compare with ``bare_fastapi``."""

from benchmarks.apps import _backends
from benchmarks.apps._ours_fastapi import build_app

app = build_app(_backends.redis_cluster())
