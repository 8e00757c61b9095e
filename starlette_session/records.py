"""The stored form of a session: one JSON object holding the user's data and our metadata apart.

``{"m": {...metadata...}, "d": {...the user's data...}}``. The metadata (creation time, user,
lifetime) is never part of the mapping the application sees, so no session key can shadow or forge
it. JSON only: nothing stored can run code when it is read back.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any, NamedTuple

from starlette_session.exceptions import SessionNotSerializableError, SessionTooLargeError

__all__ = ["RECORD_VERSION", "Record", "decode_record", "encode_record", "merge_records"]

#: The format version written in the metadata ("v"); records of another version are not read.
RECORD_VERSION = 1
security_logger = logging.getLogger("starlette_session.security")
_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400: JSON we would refuse to write back
        raise ValueError("not a finite number")
    return value


def _no_constant(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")  # NaN, Infinity


_decode = json.JSONDecoder(parse_float=_finite, parse_constant=_no_constant).decode


class Record(NamedTuple):
    """A decoded session: the user's data and the library's metadata."""

    data: dict[str, Any]
    meta: dict[str, Any]


def encode_record(data: dict[str, Any], meta: dict[str, Any], max_size: int | None) -> bytes:
    """Serialize a session, or raise naming the key whose value JSON cannot hold."""
    # JSON would silently turn a key 1 into "1", which the next request would not find.
    if not all(isinstance(key, str) for key in dict.keys(data)):
        raise _unserializable(data)
    try:
        raw = _encoder.encode({"m": meta, "d": data}).encode()
    except (TypeError, ValueError) as error:
        raise _unserializable(data) from error
    if max_size is not None and len(raw) > max_size:
        raise SessionTooLargeError(
            f"the session takes {len(raw)} bytes, over the limit of {max_size} "
            "(SessionStore(max_size=...)); nothing was saved"
        )
    return raw


def decode_record(raw: bytes) -> Record | None:
    """Parse a stored session; ``None`` (and one log line) when it is not one of ours."""
    try:
        value = _decode(raw.decode())
    except (ValueError, RecursionError):
        value = None
    if (
        isinstance(value, dict)
        and isinstance(value.get("d"), dict)
        and isinstance(value.get("m"), dict)
        and _valid_meta(value["m"])
    ):
        return Record(value["d"], value["m"])
    security_logger.warning("stored session data could not be decoded; starting a fresh session")
    return None


def _valid_meta(meta: dict[str, Any]) -> bool:
    """Whether the metadata we rely on has the types we write: anything else is corrupt."""
    created, user, lifetime = meta.get("c"), meta.get("u"), meta.get("l")
    return (
        (created is None or _is_int(created))
        and (user is None or isinstance(user, str))
        and (lifetime is None or (_is_int(lifetime) and lifetime > 0))
        and meta.get("v", RECORD_VERSION) == RECORD_VERSION
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _unserializable(data: dict[str, Any]) -> SessionNotSerializableError:
    for key, value in data.items():
        if not isinstance(key, str):
            return SessionNotSerializableError(
                f"session keys must be strings, not {type(key).__name__}; nothing was saved"
            )
        try:
            _encoder.encode(value)
        except (TypeError, ValueError):
            return SessionNotSerializableError(
                f"the session value under {key!r} cannot be stored as JSON "
                f"({type(value).__name__}, or something inside it); nothing was saved. Store "
                "only dict, list, str, int, float (not NaN), bool and None."
            )
    return SessionNotSerializableError("the session cannot be stored as JSON; nothing was saved")


def merge_records(base: Record, ours: Record, theirs: Record) -> Record:
    """Apply the top-level changes from ``base`` to ``ours`` onto ``theirs``.

    Used when another request saved the session after this one loaded it: each request keeps the
    fields it changed; a field changed by both ends up with ours (the last write wins).
    """
    return Record(
        _merge(base.data, ours.data, theirs.data), _merge(base.meta, ours.meta, theirs.meta)
    )


def _merge(base: dict[str, Any], ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    merged = dict(theirs)
    for key in base.keys() - ours.keys():
        merged.pop(key, None)
    for key, value in ours.items():
        if key not in base or base[key] != value:
            merged[key] = value
    return merged
