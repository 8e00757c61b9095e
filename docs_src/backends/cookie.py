"""The whole session in the signed cookie: no server state at all."""

import os

from starlette.applications import Starlette

from starlette_session import SessionMiddleware, SessionStore
from starlette_session.backends import CookieBackend

# Signed, not encrypted: the visitor can read (not change) the data. At most 4096 bytes.
# A log-out cannot revoke a copy of the cookie taken earlier; the idle timeout still
# applies.
store = SessionStore(CookieBackend(), idle_timeout=24 * 60 * 60)

app = Starlette()
app.add_middleware(
    SessionMiddleware, secret_key=os.environ["SESSION_SECRET"], store=store
)
