"""Signing of the session cookie with itsdangerous, with key rotation.

The cookie value is ``<payload>.<issued-at>.<signature>``. The payload is a session id (server-side
backends) or the base64 session itself (the cookie backend). ``issued-at`` lets the middleware
refresh a long-lived cookie before the browser drops it, and bounds the age of cookie-only sessions.

The same cookie value comes back on every request of a user, so each signer remembers the values
it verified (at most :data:`VERIFIED_CACHE_SIZE`, each at most :data:`VERIFIED_CACHE_LENGTH`
characters), keyed by the whole signed value. A value is remembered only after its signature
verified: a forged one is checked in full every time and never takes a place in the cache. What is
remembered is what the signature proves (payload, issued-at, which key), never a decision: the
cookie's age (its issued-at against its Max-Age) is checked on every request by the loader.
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

from starlette_session.secret_keys import SecretKey, checked_secret_keys

__all__ = ["CookieSigner", "SecretKey", "Unsigned"]

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
            block = key.ljust(64, b"\0") if len(key) <= 64 else hashlib.sha256(key).digest()
            block = block.ljust(64, b"\0")
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
                self._remember(value, verified)
            return verified
        if log:
            security_logger.warning("session cookie with a bad signature ignored")
        return None

    def _remember(self, value: str, verified: Unsigned) -> None:
        cache = self._verified
        if len(cache) >= VERIFIED_CACHE_SIZE:
            # The oldest goes first. Another thread (sync code, several event loops) may change
            # the dict meanwhile: then some other entry went, which is as good.
            with contextlib.suppress(KeyError, RuntimeError, StopIteration):
                del cache[next(iter(cache))]
        cache[value] = verified

    def derive(self, purpose: bytes, key_index: int = 0) -> bytes:
        """A key for another purpose (hashing store keys), derived from one of our keys."""
        return hmac.digest(self._keys[key_index], purpose, "sha256")

    @property
    def key_count(self) -> int:
        """How many keys verify cookies (the first of them signs)."""
        return len(self._keys)

    def __repr__(self) -> str:
        return f"CookieSigner(keys={len(self._keys)})"
