"""The secret keys an application gives the middleware: checked once, at start-up.

Refused (``ValueError``): no key at all (the message says how to make one), an empty or blank
string, bytes (which would be split into one-byte keys). Warned about, at the application's line
that adds the middleware (see ``setup_warnings``): a key shorter than 32 characters, and a key
that is a placeholder from documentation or a tutorial ("change me", "secret", ...), which is
long enough to pass the length check but known to everyone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from starlette.datastructures import Secret

from starlette_session.setup_warnings import warn_setup

__all__ = ["MIN_SECRET_LENGTH", "SecretKey", "checked_secret_keys"]

SecretKey = str | Secret
MIN_SECRET_LENGTH = 32
_PLACEHOLDER = re.compile(
    r"change[\s_-]*(?:me|this|it)|replace[\s_-]*(?:me|this)|your[\s_-]*secret|"
    r"^(?:secret|secret[\s_-]*key|password|s3cr3t|insecure|development|dev|test)$",
    re.IGNORECASE,
)
_GENERATE = "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"


def checked_secret_keys(secret_key: SecretKey | Sequence[SecretKey] | None) -> list[str]:
    """The keys as strings, newest first; raise or warn as the module docstring says."""
    if secret_key is None:
        raise ValueError(
            "SessionMiddleware needs a secret_key to sign its cookies: pass "
            "secret_key=os.environ['SESSION_SECRET'] (keep it out of the source code); " + _GENERATE
        )
    single = isinstance(secret_key, str | Secret)
    # Checked, not coerced: str(None) or the ints of list(b"...") would make guessable keys.
    raw_keys = [secret_key] if single or not isinstance(secret_key, Sequence) else secret_key
    keys = [str(key) for key in raw_keys if isinstance(key, str | Secret)]
    if not keys or len(keys) != len(raw_keys) or not all(key.strip() for key in keys):
        raise ValueError(f"secret_key must be a non-empty string or a list of them; {_GENERATE}")
    if any(_PLACEHOLDER.search(key.strip()) for key in keys):
        warn_setup(f"the session secret_key is a placeholder, known to everyone: {_GENERATE}")
    elif any(len(key) < MIN_SECRET_LENGTH for key in keys):
        warn_setup(
            f"a session secret_key shorter than {MIN_SECRET_LENGTH} characters is easy to "
            f"guess; {_GENERATE}"
        )
    return keys
