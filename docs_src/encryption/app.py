"""Sessions encrypted at rest. Install: pip install "starlette-session[encryption]>=1.0"

SESSION_ENCRYPTION_KEYS holds the keys as "id:key", newest first, separated by spaces.
"""

import os

from starlette.applications import Starlette

from starlette_session import KeyRing, SessionMiddleware, SessionStore

# The first key seals every session written; every key listed opens the sessions that
# name it. Make a key with:
#   python -c 'from starlette_session import generate_key; print(generate_key())'
keys = KeyRing.from_string(os.environ["SESSION_ENCRYPTION_KEYS"])

app = Starlette()
app.add_middleware(
    SessionMiddleware,
    secret_key=os.environ["SESSION_SECRET"],
    store=SessionStore(encryption=keys),
)
