"""The secret keys an application gives the middleware: checked once, at start-up.

Refused: nothing, an empty or blank string, ``None``, bytes (which would be split into one-byte
keys). Warned about, naming the line of the application that passed them: a key shorter than 32
characters, and a key that is a placeholder from documentation or a tutorial ("change me",
"secret", ...), which is long enough to pass the length check but known to everyone.
"""

from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from starlette.datastructures import Secret

__all__ = ["MIN_SECRET_LENGTH", "SecretKey", "checked_secret_keys"]

SecretKey = str | Secret
MIN_SECRET_LENGTH = 32
_PLACEHOLDER = re.compile(
    r"change[\s_-]*(?:me|this|it)|replace[\s_-]*(?:me|this)|your[\s_-]*secret|"
    r"^(?:secret|secret[\s_-]*key|password|s3cr3t|insecure|development|dev|test)$",
    re.IGNORECASE,
)
_GENERATE = "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
#: Frames of these packages are the library's or the framework's, not the application's.
_LIBRARIES = ("starlette_session", "starlette", "fastapi")


def checked_secret_keys(secret_key: SecretKey | Sequence[SecretKey]) -> list[str]:
    """The keys as strings, newest first; raise or warn as the module docstring says."""
    single = isinstance(secret_key, str | Secret)
    # Checked, not coerced: str(None) or the ints of list(b"...") would make guessable keys.
    raw_keys = [secret_key] if single or not isinstance(secret_key, Sequence) else secret_key
    keys = [str(key) for key in raw_keys if isinstance(key, str | Secret)]
    if not keys or len(keys) != len(raw_keys) or not all(key.strip() for key in keys):
        raise ValueError("secret_key must be a non-empty string or a list of them")
    if any(_PLACEHOLDER.search(key.strip()) for key in keys):
        _warn(f"the session secret_key is a placeholder, known to everyone: {_GENERATE}")
    elif any(len(key) < MIN_SECRET_LENGTH for key in keys):
        _warn(
            f"a session secret_key shorter than {MIN_SECRET_LENGTH} characters is easy to "
            f"guess; {_GENERATE}"
        )
    return keys


def _warn(message: str) -> None:
    warnings.warn(message, UserWarning, stacklevel=_application_stacklevel())


def _application_stacklevel() -> int:
    """The stacklevel of the first frame outside this library and Starlette/FastAPI."""
    directories = tuple(
        str(Path(module.__file__).resolve().parent)
        for module in map(sys.modules.get, _LIBRARIES)
        if module is not None and module.__file__
    )
    # sys._getframe(2) is the caller of _warn, which is warnings.warn's stacklevel 2 in _warn.
    frame: FrameType | None = sys._getframe(2)
    level = 2
    while frame is not None:
        if not str(Path(frame.f_code.co_filename).resolve()).startswith(directories):
            return level
        frame, level = frame.f_back, level + 1
    return 3
