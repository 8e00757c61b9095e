"""Typed FastAPI path on the cookie backend; compare with ``bare_fastapi``."""

from benchmarks.apps._ours_fastapi import build_app
from starlette_session.backends import CookieBackend

app = build_app(CookieBackend())
