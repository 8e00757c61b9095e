"""This library with its cookie backend (the data lives in the signed cookie)."""

from benchmarks.apps._ours import build_app
from starlette_session.backends import CookieBackend

app = build_app(CookieBackend())
