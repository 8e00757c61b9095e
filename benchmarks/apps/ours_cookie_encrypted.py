"""This library with its cookie backend, the cookie's payload sealed (AES-256-GCM)."""

from benchmarks.apps._ours import build_app
from starlette_session import KeyRing
from starlette_session.backends import CookieBackend

# A fixed benchmark key (never use a key from source code in an application).
app = build_app(CookieBackend(), KeyRing([("bench", "A" * 43)]))
