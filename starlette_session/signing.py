"""Secret keys, checked at start-up; the cookie's signature (``<payload>.<issued-at>.<signature>``,
HMAC-SHA256, newest key signs, every key verifies); backend keys as keyed hashes of ids.

A signer remembers the values it verified (never a forged one; never a decision: the loader
checks the cookie's age on every request). :class:`StoreKeys` never stores or reveals an id: a
listing of the backend's keys yields no cookie and no user id; one hash key per signing key, so
sessions stored before a secret rotation are still found.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import re
import time
from collections.abc import Sequence
from typing import Any, NamedTuple

from itsdangerous import BadSignature, Signer
from itsdangerous.signer import SigningAlgorithm
from starlette.datastructures import Secret

from starlette_session.setup_warnings import warn_setup

__all__ = [
    "MIN_SECRET_LENGTH",
    "CookieSigner",
    "SecretKey",
    "StoreKeys",
    "Unsigned",
    "checked_secret_keys",
]

SecretKey = str | Secret
MIN_SECRET_LENGTH = 32
_PLACEHOLDER = re.compile(
    r"change[\s_-]*(?:me|this|it)|replace[\s_-]*(?:me|this)|your[\s_-]*secret|"
    r"^(?:secret|secret[\s_-]*key|password|s3cr3t|insecure|development|dev|test)$",
    re.IGNORECASE,
)
_GENERATE = "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"


def checked_secret_keys(secret_key: SecretKey | Sequence[SecretKey] | None) -> list[str]:
    """The keys as strings, newest first. ``ValueError`` for no key, an empty or blank one, or
    bytes; a setup warning for a key shorter than 32 characters or a known placeholder."""
    if secret_key is None:
        raise ValueError(
            "SessionMiddleware needs a secret_key to sign its cookies: pass "
            "secret_key=os.environ['SESSION_SECRET'] (keep it out of the source code); " + _GENERATE
        )
    single = isinstance(secret_key, str | Secret)
    # Checked, not coerced: str(None) or the ints of list(b"...") would be guessable keys.
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


MAX_SIGNED_LENGTH = 4096
_SAFE_VALUE = re.compile(r"[A-Za-z0-9_\-.]+")
# The last of the 43 base64 characters of a SHA-256 signature carries 2 unused bits, which
# decoding ignores: only the canonical spelling is accepted, so a session has one cookie value.
_CANONICAL_LAST = frozenset("AEIMQUYcgkosw048")
security_logger = logging.getLogger("starlette_session.security")
#: How many verified cookie values a signer remembers (about 200 bytes each)...
VERIFIED_CACHE_SIZE = 4096
#: ... and the longest it remembers: a session id's cookie is about 100 characters; a cookie
#: backend's, which holds the session itself and changes with it, is checked each time.
VERIFIED_CACHE_LENGTH = 256


class _PrecomputedHMAC(SigningAlgorithm):
    """HMAC-SHA256 with the key's inner and outer pads hashed once (RFC 2104): the same
    signatures as ``hmac.digest``, at half the cost per request."""

    def __init__(self) -> None:
        self._pads: dict[bytes, tuple[Any, Any]] = {}

    def get_signature(self, key: bytes, value: bytes) -> bytes:
        pads = self._pads.get(key)
        if pads is None:
            block = (key if len(key) <= 64 else hashlib.sha256(key).digest()).ljust(64, b"\0")
            pads = self._pads[key] = (
                hashlib.sha256(bytes(byte ^ 0x36 for byte in block)),
                hashlib.sha256(bytes(byte ^ 0x5C for byte in block)),
            )
        inner, outer = pads[0].copy(), pads[1].copy()
        inner.update(value)
        outer.update(inner.digest())
        return outer.digest()


class Unsigned(NamedTuple):
    """A cookie value whose signature was verified."""

    payload: str
    issued_at: int
    #: 0 when the newest key verified it; a larger number means it must be re-signed.
    key_index: int

    def __repr__(self) -> str:  # the payload is a session id: never in logs or tracebacks
        return f"Unsigned(payload=<hidden>, issued_at={self.issued_at}, key_index={self.key_index})"


class CookieSigner:
    """Signs cookie payloads with the newest key and verifies them with every key.

    ``secret_key`` is one key or a list, newest first: the first key signs, all keys verify.
    """

    __slots__ = ("_keys", "_signers", "_verified")

    def __init__(self, secret_key: SecretKey | Sequence[SecretKey] | None, salt: str) -> None:
        keys = checked_secret_keys(secret_key)
        # Derived once here, so signing does no key derivation per request.
        self._keys = [hmac.digest(key.encode(), salt.encode(), "sha256") for key in keys]
        algorithm = _PrecomputedHMAC()
        self._signers = [
            Signer(key, salt=salt, key_derivation="none", algorithm=algorithm) for key in self._keys
        ]
        self._verified: dict[str, Unsigned] = {}

    def sign(self, payload: str, now: int | None = None) -> str:
        """Sign ``payload`` with the newest key, stamped with the current time."""
        issued_at = int(time.time()) if now is None else now
        return self._signers[0].sign(f"{payload}.{issued_at:x}").decode()

    def unsign(self, value: str, *, log: bool = True) -> Unsigned | None:
        """Verify a cookie value; ``None`` for anything not signed by one of our keys (logged on
        the security logger unless ``log=False``)."""
        verified = self._verified.get(value)
        if verified is not None:
            return verified
        if (
            len(value) > MAX_SIGNED_LENGTH
            or not _SAFE_VALUE.fullmatch(value)
            or value[-1] not in _CANONICAL_LAST
        ):
            if log:
                security_logger.warning("malformed session cookie ignored")
            return None
        encoded = value.encode()
        for index, signer in enumerate(self._signers):
            try:
                stamped = signer.unsign(encoded).decode()
            except BadSignature:
                continue
            payload, _, issued_hex = stamped.rpartition(".")
            try:
                issued_at = int(issued_hex, 16)
            except ValueError:
                break
            verified = Unsigned(payload, issued_at, index)
            if len(value) <= VERIFIED_CACHE_LENGTH:
                cache = self._verified
                if len(cache) >= VERIFIED_CACHE_SIZE:
                    # The oldest goes. Another thread (sync code, several event loops) may change
                    # the dict meanwhile: then some other entry went, which is as good.
                    with contextlib.suppress(KeyError, RuntimeError, StopIteration):
                        del cache[next(iter(cache))]
                cache[value] = verified
            return verified
        if log:
            security_logger.warning("session cookie with a bad signature ignored")
        return None

    def derive(self, purpose: bytes, key_index: int = 0) -> bytes:
        """A key for another purpose (hashing store keys), derived from one of our keys."""
        return hmac.digest(self._keys[key_index], purpose, "sha256")

    @property
    def key_count(self) -> int:
        """How many keys verify cookies (the first of them signs)."""
        return len(self._keys)

    def __repr__(self) -> str:
        return f"CookieSigner(keys={len(self._keys)})"


_DIGEST_SIZE = 32


class StoreKeys:
    """Derives the backend keys of sessions and of users' session indexes."""

    __slots__ = ("_hash_keys", "_index_keys", "_old_key", "_session_keys", "prefix", "signer")

    def __init__(self, signer: CookieSigner, prefix: str) -> None:
        self.signer = signer
        self.prefix = prefix
        generations = range(signer.key_count)
        self._hash_keys = [signer.derive(b"store-key", index) for index in generations]
        self._index_keys = [signer.derive(b"user-index", index) for index in generations]
        self._old_key = signer.derive(b"old-cookie")
        self._session_keys: dict[tuple[str, int], str] = {}

    def session_key(self, session_id: str, key_index: int = 0) -> str:
        """The prefix and a keyed BLAKE2b hash of ``session_id``."""
        known = self._session_keys.get((session_id, key_index))
        if known is not None:
            return known
        hash_key = self._hash_keys[key_index]
        digest = hashlib.blake2b(session_id.encode(), key=hash_key, digest_size=_DIGEST_SIZE)
        key = self.prefix + digest.hexdigest()
        cache = self._session_keys
        if len(cache) >= VERIFIED_CACHE_SIZE:
            # The oldest goes first (another thread may have removed it: then another went).
            with contextlib.suppress(KeyError, RuntimeError, StopIteration):
                del cache[next(iter(cache))]
        cache[session_id, key_index] = key
        return key

    def user_key(self, user_id: str, key_index: int = 0) -> str:
        """The key of ``user_id``'s session index under one signing key."""
        digest = hmac.new(self._index_keys[key_index], user_id.encode(), hashlib.sha256).hexdigest()
        return f"{self.prefix}user:{digest}"

    def old_cookie_key(self, value: str) -> str:
        """The key that remembers an old library's cookie (``migrate_from=``) was carried over:
        a keyed hash of the whole signed value, never the value."""
        digest = hmac.new(self._old_key, value.encode(), hashlib.sha256).hexdigest()
        return f"{self.prefix}old:{digest}"

    @property
    def longest_key(self) -> int:
        """The length in bytes of the longest key made: a user's index key, or a session's."""
        return max(len(self.user_key("").encode()), len(self.prefix) + 2 * _DIGEST_SIZE)

    @property
    def key_count(self) -> int:
        """How many signing keys, hence how many generations of keys, are live."""
        return self.signer.key_count
