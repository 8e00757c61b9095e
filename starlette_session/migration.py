"""Sessions carried over from the cookies of earlier libraries (``migrate_from=``): verify and
decode, nothing else. Both schemes sign standard base64 JSON with itsdangerous'
``TimestampSigner(secret_key)`` (default salt, SHA-1 HMAC):

- ``"starlette"``: Starlette's ``SessionMiddleware``, honoured while at most ``max_age`` seconds
  old; starsessions' ``CookieStore`` too (its ``"__metadata__"`` is left out).
- ``"starlette-session-0.4"``: the original's cookie backend wrote the same; its server-side
  backends wrote only ``{"_cssid": <id>}`` (:func:`original_session_key`).

Pure (no I/O, no logging) and never raising on what a client sent: a forged, expired,
malformed or oversized cookie, or JSON this library cannot hold (NaN, Infinity, huge integers),
gives None after bounded work (:data:`MAX_OLD_COOKIE_LENGTH` characters, one HMAC per key,
newest first). ``max_age <= 0`` honours nothing.
"""

from __future__ import annotations

import base64
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
_STARSESSIONS_KEYS = frozenset({"lifetime", "created", "last_access"})
# Standard base64 (payload), urlsafe base64 (timestamp, signature) and the separators.
_OLD_COOKIE = re.compile(r"[A-Za-z0-9+/=_\-.]+")
# What a hostile or corrupt value can make the decoders raise; never anything else.
_UNDECODABLE = (BadData, ValueError, TypeError, OverflowError, OSError, RecursionError)

Keys = str | Secret | Sequence[str | Secret]


def load_starlette_cookie(
    value: str, secret_key: Keys, *, max_age: int | None
) -> dict[str, Any] | None:
    """The session in a cookie Starlette's ``SessionMiddleware`` (or starsessions'
    ``CookieStore``) wrote, or None."""
    return old_cookie_loader("starlette", secret_key, max_age=max_age)(value)


def load_original_cookie(
    value: str, secret_key: Keys, *, max_age: int | None
) -> dict[str, Any] | None:
    """The session in a cookie of the original starlette-session's cookie backend, or None
    (None too for its server-side backends' cookies: see :func:`original_session_key`)."""
    return old_cookie_loader("starlette-session-0.4", secret_key, max_age=max_age)(value)


def original_session_key(value: str, secret_key: Keys, *, max_age: int | None) -> str | None:
    """The backend key in a cookie of the original's server-side backends, or None.

    Under it the original stored the bare session: JSON with ``BackendType.memcache`` or a
    custom backend (:func:`starlette_session.compat.original_session_reader` reads it), a
    pickle with its Redis and aiomcache backends (never read by this library).
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
    ``ValueError`` for an unknown ``scheme`` or an empty key, so a typo fails at start-up."""
    if scheme not in get_args(MigrateFrom):
        choices = " or ".join(repr(choice) for choice in get_args(MigrateFrom))
        raise ValueError(f"migrate_from must be {choices}, not {scheme!r}")
    signers = _signers(secret_key)
    original = scheme == "starlette-session-0.4"

    def load(value: str) -> dict[str, Any] | None:
        session = _load(value, signers, max_age)
        if session is None or (original and _pointer(session) is not None):
            return None
        metadata = session.get(STARSESSIONS_METADATA_FIELD)
        if not original and isinstance(metadata, dict) and set(metadata) <= _STARSESSIONS_KEYS:
            del session[STARSESSIONS_METADATA_FIELD]
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
        except SignatureExpired:
            return None  # the right key, too old: no other key can make it younger
        except _UNDECODABLE:
            continue
        return _decode(payload)
    return None


def _decode(payload: bytes) -> dict[str, Any] | None:
    try:
        session = _json_decode(base64.b64decode(payload, validate=True).decode())
    except _UNDECODABLE:  # binascii.Error is a ValueError
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


def _pointer(session: dict[str, Any]) -> str | None:
    key = session.get(ORIGINAL_SESSION_ID_FIELD)
    return key if len(session) == 1 and isinstance(key, str) else None
