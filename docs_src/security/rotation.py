"""Signing keys from the environment, newest first: SESSION_SECRET_KEYS="new old"."""

import os

from starlette.applications import Starlette

from starlette_session import SessionMiddleware, SessionStore

# The first key signs; every key verifies; a cookie signed by an older key is re-issued,
# with a new session id, signed by the newest. Make a key with:   python -c 'import
# secrets; print(secrets.token_urlsafe(32))'
SECRET_KEYS = os.environ["SESSION_SECRET_KEYS"].split()

app = Starlette()
app.add_middleware(SessionMiddleware, secret_key=SECRET_KEYS, store=SessionStore())
