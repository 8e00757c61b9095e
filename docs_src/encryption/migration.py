"""Encryption switched on, or off, without logging anyone out: one deploy per step.

SESSION_ENCRYPTION names the step. Switching on: "migrating" (plain sessions are read,
every write seals), then "on" (plain sessions are refused). Switching off: "leaving"
(sealed sessions are read, every write is plain), then "off".
"""

import os

from starlette.applications import Starlette

from starlette_session import KeyRing, SessionMiddleware, SessionStore

STEP = os.environ.get("SESSION_ENCRYPTION", "on")


def key_ring() -> KeyRing | None:
    if STEP == "off":
        return None
    return KeyRing.from_string(
        os.environ["SESSION_ENCRYPTION_KEYS"],
        accept_plain=STEP == "migrating",
        decrypt_only=STEP == "leaving",
    )


app = Starlette()
app.add_middleware(
    SessionMiddleware,
    secret_key=os.environ["SESSION_SECRET"],
    store=SessionStore(encryption=key_ring()),
)
