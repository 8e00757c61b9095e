"""The stored form of a session: ``{"m": metadata, "d": data}`` as JSON.

The metadata is never part of the mapping the application sees, so no session key can shadow it;
JSON only, so nothing read back can run code. The standard library's ``json`` decides what is
stored and what is refused; msgspec (the ``msgspec`` extra) does the work only where its result
is the same bytes or the same refusal (docs/benchmarks.md, tests/security/test_json_codecs.py).
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from typing import Any, NamedTuple

from starlette_session.exceptions import SessionNotSerializableError, SessionTooLargeError

__all__ = [
    "RECORD_VERSION",
    "RETIRED",
    "RETIRED_TTL",
    "Record",
    "Stored",
    "decode_record",
    "dump_json",
    "encode_record",
    "load_json",
    "merge_records",
    "same_json",
]

#: The format version written in the metadata ("v"); records of another version are not read.
RECORD_VERSION = 1
#: What a session's old entry holds for a short while after a log-in gave it a new id: requests
#: still carrying the old cookie find it, and neither read the data nor write it back.
RETIRED = b'{"retired":1}'
RETIRED_TTL = 60
security_logger = logging.getLogger("starlette_session.security")
_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_CONTAINERS = (dict, list, tuple)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # NaN, Infinity, 1e400: JSON we would refuse to write back
        raise ValueError("not a finite number")
    return value


_decode = json.JSONDecoder(parse_float=_finite, parse_constant=_finite).decode

try:
    import msgspec
except ImportError:  # pragma: no cover - exercised by the no-extras CI run
    msgspec = None  # type: ignore[assignment]

_fast_encode = msgspec.json.Encoder().encode if msgspec is not None else None
_fast_decode = msgspec.json.Decoder().decode if msgspec is not None else None
_SCALARS = frozenset((str, int, bool, type(None)))
# Python's repr() writes a float without an exponent in this range, and so does msgspec, with the
# same digits; outside it the two place and spell the exponent differently (1e+16 and 1e16).
_FIXED_LOW, _FIXED_HIGH = 1e-4, 1e16
# Deeper values are left to the standard library, which refuses them (or finds them circular).
_FAST_DEPTH = 200


def _plain(value: Any, depth: int = 0) -> bool:
    """Whether msgspec writes ``value`` as the standard library's encoder would (same JSON)."""
    kind = type(value)
    if kind is dict:
        if depth > _FAST_DEPTH:
            return False
        for key, item in value.items():
            if type(key) is not str:
                return False
            item_kind = type(item)
            if item_kind in _SCALARS:
                continue
            if item_kind is float:
                if not (_FIXED_LOW <= abs(item) < _FIXED_HIGH or item == 0.0):  # NaN: False
                    return False
            elif not _plain(item, depth + 1):
                return False
        return True
    if kind is list or kind is tuple:
        if depth > _FAST_DEPTH:
            return False
        for item in value:
            item_kind = type(item)
            if item_kind in _SCALARS:
                continue
            if item_kind is float:
                if not (_FIXED_LOW <= abs(item) < _FIXED_HIGH or item == 0.0):  # NaN: False
                    return False
            elif not _plain(item, depth + 1):
                return False
        return True
    if kind is float:
        return bool(_FIXED_LOW <= abs(value) < _FIXED_HIGH or value == 0.0)
    return kind in _SCALARS


def _fast_dumps(value: Any) -> bytes | None:
    """msgspec's encoding of a plain ``value``; None when the standard library must decide."""
    if _fast_encode is None or not _plain(value):
        return None
    try:
        return _fast_encode(value)
    except (ValueError, msgspec.EncodeError):  # a lone surrogate, an int over the digit limit
        return None


def load_json(raw: bytes) -> Any:
    """Parse JSON bytes, as stored records are (msgspec when installed)."""
    if _fast_decode is not None:
        try:
            return _fast_decode(raw)
        except (msgspec.DecodeError, ValueError, RecursionError):
            pass  # the standard library reads it, or refuses it, as it always did
    return _decode(raw.decode())


class Record(NamedTuple):
    """A decoded session: the user's data and the library's metadata."""

    data: dict[str, Any]
    meta: dict[str, Any]


def encode_record(
    data: dict[str, Any], meta: dict[str, Any], max_size: int | None, overhead: int = 0
) -> bytes:
    """Serialize a session's data (a plain dict) and metadata; ``max_size`` counts ``overhead``
    more bytes (what encryption adds). Refused, naming the key: keys that are not strings at any
    depth, lone surrogates, NaN and infinities, circular or too deeply nested values, and any
    type JSON has not."""
    raw = _fast_dumps({"m": meta, "d": data})
    if raw is None:
        raw = _strict_dumps(data, meta)
    if max_size is not None and len(raw) + overhead > max_size:
        encrypted = " encrypted" if overhead else ""
        raise SessionTooLargeError(
            f"the session takes {len(raw) + overhead} bytes{encrypted}, over the limit of "
            f"{max_size} (SessionStore(max_size=...)); nothing was saved"
        )
    return raw


def _strict_dumps(data: dict[str, Any], meta: dict[str, Any]) -> bytes:
    """The standard library's encoding, or the refusal naming the key at fault."""
    try:
        for key, value in dict.items(data):
            if type(key) is not str or (type(value) in _CONTAINERS and not _plain_keys(value)):
                raise TypeError("a key that is not a string")  # JSON would make it one
        return _encoder.encode({"m": meta, "d": data}).encode()
    except (TypeError, ValueError, RecursionError) as error:  # UnicodeEncodeError included
        raise _unserializable(data) from error


def _plain_keys(value: Any) -> bool:
    """Whether every dict inside ``value`` has only string keys."""
    pending, seen = [value], {id(value)}
    while pending:
        item = pending.pop()
        if type(item) is dict:
            if not all(type(key) is str for key in item):
                return False
            children = item.values()
        else:
            children = item
        for child in children:
            if type(child) in _CONTAINERS and id(child) not in seen:
                seen.add(id(child))  # a shared or circular value is looked at once
                pending.append(child)
    return True


def _unserializable(data: dict[str, Any]) -> SessionNotSerializableError:
    for key, value in dict.items(data):
        if not isinstance(key, str):
            return SessionNotSerializableError(
                f"session keys must be strings, not {type(key).__name__}; nothing was saved"
            )
        try:
            if type(value) in _CONTAINERS and not _plain_keys(value):
                raise TypeError("a key that is not a string, or nesting too deep")
            _encoder.encode(value).encode()
        except (TypeError, ValueError, RecursionError):
            return SessionNotSerializableError(
                f"the session value under {key!r} cannot be stored as JSON "
                f"({type(value).__name__}, or something inside it); nothing was saved. Store "
                "only dict (with string keys), list, str (valid Unicode), int, float (finite), "
                "bool and None, not nested hundreds deep."
            )
    return SessionNotSerializableError("the session cannot be stored as JSON; nothing was saved")


def decode_record(raw: bytes) -> Record | None:
    """Parse a stored session; ``None`` (and one log line) when it is not one of ours."""
    try:
        value = load_json(raw)
    except (ValueError, RecursionError):
        value = None
    if isinstance(value, dict) and isinstance(value.get("d"), dict) and _valid_meta(value.get("m")):
        return Record(value["d"], value["m"])
    security_logger.warning("stored session data could not be decoded; starting a fresh session")
    return None


def _valid_meta(meta: Any) -> bool:
    """Whether the metadata has the types we write: anything else is corrupt."""
    if not isinstance(meta, dict):
        return False
    created, user, lifetime = meta.get("c"), meta.get("u"), meta.get("l")
    return (
        (created is None or _is_int(created))
        and (user is None or isinstance(user, str))
        and (lifetime is None or (_is_int(lifetime) and lifetime > 0))
        and meta.get("v", RECORD_VERSION) == RECORD_VERSION
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class Stored:
    """What a session's key holds, the one way it is read: a session (``live``; ``record`` is
    None when undecodable), the ``retired`` marker of a session a log-in moved, or nothing.
    ``raw`` is the record's JSON, ``sealed`` the bytes the backend holds (the same unless
    encrypted); ``refused`` says why an encrypted value was not opened (``raw`` is then None)."""

    __slots__ = ("live", "raw", "refused", "retired", "sealed")

    def __init__(
        self, raw: bytes | None, sealed: bytes | None = None, refused: str | None = None
    ) -> None:
        self.raw = raw
        self.sealed = raw if sealed is None else sealed
        self.refused = refused
        self.retired = self.sealed == RETIRED
        self.live = self.sealed is not None and not self.retired

    @property
    def record(self) -> Record | None:
        raw = self.raw
        return decode_record(raw) if self.live and raw is not None else None


def merge_records(
    base: Record, ours: Record, theirs: Record, queues: tuple[str, ...] = ()
) -> Record:
    """Apply ``ours``' top-level changes from ``base`` onto ``theirs`` (another request's save):
    a field changed by both ends up with ours. The metadata lists under ``queues`` (flashes)
    lose what ours removed and gain what it added, so no entry is lost or repeated."""
    meta = _merge(base.meta, ours.meta, theirs.meta)
    for key in queues:
        queue = _merge_queue(base.meta.get(key), ours.meta.get(key), theirs.meta.get(key))
        if queue:
            meta[key] = queue
        else:
            meta.pop(key, None)
    return Record(_merge(base.data, ours.data, theirs.data), meta)


def _merge(base: dict[str, Any], ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    merged = dict(theirs)
    for key in base.keys() - ours.keys():
        merged.pop(key, None)
    for key, value in ours.items():
        if key not in base or not same_json(base[key], value):
            merged[key] = value
    return merged


def _merge_queue(base: Any, ours: Any, theirs: Any) -> list[Any]:
    base, ours, theirs = (v if isinstance(v, list) else [] for v in (base, ours, theirs))
    pending = Counter(dump_json(entry) for entry in base)
    added = _without(ours, pending)  # what remains pending: what this request took out
    return _without(theirs, pending) + added


def _without(entries: list[Any], counts: Counter[bytes]) -> list[Any]:
    """``entries`` less those counted in ``counts`` (each count used up once)."""
    kept = []
    for entry in entries:
        raw = dump_json(entry)
        if counts[raw]:
            counts[raw] -= 1
        else:
            kept.append(entry)
    return kept


def dump_json(value: Any) -> bytes:
    """``value`` as compact JSON (for comparisons: what would be stored); raises ``TypeError``,
    ``ValueError`` or ``RecursionError`` for a value that cannot be stored."""
    raw = _fast_dumps(value)
    return raw if raw is not None else _encoder.encode(value).encode()


def same_json(first: Any, second: Any) -> bool:
    """Whether two values are stored alike (``1``, ``1.0`` and ``True`` are not)."""
    if first is second:
        return True
    try:
        return dump_json(first) == dump_json(second)
    except (TypeError, ValueError, RecursionError):
        return False
