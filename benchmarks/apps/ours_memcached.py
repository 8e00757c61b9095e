"""This library on memcached (aiomcache), compare-and-set through ``gets``/``cas``."""

from benchmarks.apps import _backends
from benchmarks.apps._ours import build_app

app = build_app(_backends.memcached())
