"""This library on the experimental valkey-glide backend (``benchmarks/glide_backend.py``), on
the harness's private Redis: compare with ``ours_redis``. Not in the report."""

from urllib.parse import urlsplit

from benchmarks.apps._env import redis_url
from benchmarks.apps._ours import build_app
from benchmarks.glide_backend import GlideBackend

_url = urlsplit(redis_url())
app = build_app(GlideBackend(_url.hostname or "127.0.0.1", _url.port or 6379))
