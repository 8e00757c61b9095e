"""Sessions carried over from the cookies of earlier libraries: verify and decode, nothing else.

Two old schemes are read, both signed with itsdangerous' ``TimestampSigner(secret_key)`` (its
default salt, SHA-1 HMAC) over standard base64 of the session as JSON,
``<base64 JSON>.<timestamp>.<signature>``:

- ``"starlette"``: Starlette's ``SessionMiddleware``, which honours a cookie while its timestamp
  is at most ``max_age`` seconds old (``max_age=None``: no limit). starsessions' ``CookieStore``
  writes the same format with its metadata in the session under ``"__metadata__"``, which is
  left out.
- ``"starlette-session-0.4"``: the original starlette-session (0.4.x). Its default cookie
  backend wrote exactly Starlette's format. Its server-side backends wrote only
  ``{"_cssid": <id>}``, a pointer to the session in Redis or memcached:
  :func:`original_session_key` returns that id, and :func:`load_original_cookie` None.

Every function here is pure (no I/O, no logging: a cookie is never logged) and never raises on
what a client sent: a forged, expired, malformed or oversized cookie gives None, after bounded
work (at most :data:`MAX_OLD_COOKIE_LENGTH` characters, one HMAC per key). A cookie is verified
with every key given, newest first, so the old application's secret goes in the new one's
``secret_key`` list. ``max_age <= 0`` honours nothing.

Only sessions JSON can hold in this library are carried over: an old session with NaN,
Infinity or an integer of over 4300 digits is refused (None), as undecodable.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Callable, Sequence
from typing import Any, Literal, get_args

from itsdangerous import BadData, SignatureExpired, TimestampSigner
from starlette.datastructures import Secret

__all__ = [
    "MAX_OLD_COOKIE_LENGTH",
    "ORIGINAL_SESSION_ID_FIELD",
    "STARSESSIONS_METADATA_FIELD",
    "MigrateFrom",
    "load_old_cookie",
    "load_original_cookie",
    "load_starlette_cookie",
    "old_cookie_loader",
    "original_session_key",
]

MigrateFrom = Literal["starlette", "starlette-session-0.4"]
#: Browsers keep no cookie longer than 4096 bytes (name, value and attributes together).
MAX_OLD_COOKIE_LENGTH = 4096
#: The original's server-side cookie: ``{"_cssid": <the backend key of the session>}``.
ORIGINAL_SESSION_ID_FIELD = "_cssid"
#: starsessions keeps its metadata in the session: ``{"lifetime", "created", "last_access"}``.
STARSESSIONS_METADATA_FIELD = "__metadata__"
_STARSESSIONS_METADATA_KEYS = frozenset({"lifetime", "created", "last_access"})
# Standard base64 (the payload), urlsafe base64 (timestamp, signature) and the separators.
_OLD_COOKIE = re.compile(r"[A-Za-z0-9+/=_\-.]+")
# What a hostile or corrupt value can make the decoders raise; never anything else.
_UNDECODABLE = (BadData, ValueError, TypeError, OverflowError, OSError, RecursionError)

Keys = str | Secret | Sequence[str | Secret]


def load_starlette_cookie(
    value: str, secret_key: Keys, *, max_age: int | None
) -> dict[str, Any] | None:
    """The session in a cookie Starlette's ``SessionMiddleware`` (or starsessions'
    ``CookieStore``) wrote, or None."""
    return _without_starsessions_metadata(_load(value, _signers(secret_key), max_age))


def load_original_cookie(
    value: str, secret_key: Keys, *, max_age: int | None
) -> dict[str, Any] | None:
    """The session in a cookie of the original starlette-session's cookie backend, or None.

    None too for a cookie of its server-side backends (see :func:`original_session_key`).
    """
    session = _load(value, _signers(secret_key), max_age)
    return None if session is None or _pointer(session) is not None else session


def original_session_key(value: str, secret_key: Keys, *, max_age: int | None) -> str | None:
    """The backend key in a cookie of the original's server-side backends, or None.

    The original stored the bare session dict under that key: JSON with ``BackendType.memcache``
    or a custom backend (readable with
    :func:`starlette_session.compat.original_session_reader`), a pickle with its
    Redis and aiomcache backends (never read by this library).
    """
    session = _load(value, _signers(secret_key), max_age)
    return None if session is None else _pointer(session)


def load_old_cookie(
    scheme: MigrateFrom, value: str, secret_key: Keys, *, max_age: int | None
) -> dict[str, Any] | None:
    """The session in an old cookie of ``scheme`` (a ``migrate_from=`` value), or None."""
    return old_cookie_loader(scheme, secret_key, max_age=max_age)(value)


def old_cookie_loader(
    scheme: MigrateFrom, secret_key: Keys, *, max_age: int | None
) -> Callable[[str], dict[str, Any] | None]:
    """A function from an old cookie value to its session (or None), made once at start-up.

    Raises ``ValueError`` at once for an unknown ``scheme`` or an empty key, so a typo in
    ``migrate_from=`` fails when the middleware is built.
    """
    if scheme not in get_args(MigrateFrom):
        choices = " or ".join(repr(choice) for choice in get_args(MigrateFrom))
        raise ValueError(f"migrate_from must be {choices}, not {scheme!r}")
    signers = _signers(secret_key)
    original = scheme == "starlette-session-0.4"

    def load(value: str) -> dict[str, Any] | None:
        session = _load(value, signers, max_age)
        if not original:
            return _without_starsessions_metadata(session)
        if session is not None and _pointer(session) is not None:
            return None
        return session

    return load


def _signers(secret_key: Keys) -> list[TimestampSigner]:
    keys = [secret_key] if isinstance(secret_key, str | Secret) else list(secret_key)
    if not keys or not all(isinstance(key, str | Secret) and str(key) for key in keys):
        raise ValueError("secret_key must be a non-empty string or a list of them")
    # Exactly what Starlette and the original built: TimestampSigner(str(secret_key)).
    return [TimestampSigner(str(key)) for key in keys]


def _load(value: str, signers: list[TimestampSigner], max_age: int | None) -> dict[str, Any] | None:
    if (
        not isinstance(value, str)
        or len(value) > MAX_OLD_COOKIE_LENGTH
        or (max_age is not None and max_age <= 0)
        or not _OLD_COOKIE.fullmatch(value)
    ):
        return None
    for signer in signers:
        try:
            payload = signer.unsign(value, max_age=max_age)
        except _UNDECODABLE as error:
            if isinstance(error, SignatureExpired):
                return None  # the right key, too old: no other key can make it younger
            continue
        return _decode(payload)
    return None


def _decode(payload: bytes) -> dict[str, Any] | None:
    try:
        session = _json_decode(base64.b64decode(payload, validate=True).decode())
    except (*_UNDECODABLE, binascii.Error):
        return None
    return session if isinstance(session, dict) else None


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e400
        raise ValueError("not a finite number")
    return number


def _no_constant(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")  # NaN, Infinity, -Infinity


_json_decode = json.JSONDecoder(parse_float=_finite, parse_constant=_no_constant).decode


def _without_starsessions_metadata(session: dict[str, Any] | None) -> dict[str, Any] | None:
    if session is None:
        return None
    metadata = session.get(STARSESSIONS_METADATA_FIELD)
    if isinstance(metadata, dict) and set(metadata) <= _STARSESSIONS_METADATA_KEYS:
        del session[STARSESSIONS_METADATA_FIELD]
    return session


def _pointer(session: dict[str, Any]) -> str | None:
    if len(session) == 1 and isinstance(session.get(ORIGINAL_SESSION_ID_FIELD), str):
        key: str = session[ORIGINAL_SESSION_ID_FIELD]
        return key
    return None
