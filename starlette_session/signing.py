"""Signing of the session cookie with itsdangerous, with key rotation.

The cookie value is ``<payload>.<issued-at>.<signature>``. The payload is a session id (server-side
backends) or the base64 session itself (the cookie backend). ``issued-at`` lets the middleware
refresh a long-lived cookie before the browser drops it, and bounds the age of cookie-only sessions.
"""

from __future__ import annotations

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

    __slots__ = ("_keys", "_signers")

    def __init__(self, secret_key: SecretKey | Sequence[SecretKey], salt: str) -> None:
        keys = checked_secret_keys(secret_key)
        # Derived once here, so signing does no key derivation per request.
        self._keys = [hmac.digest(key.encode(), salt.encode(), "sha256") for key in keys]
        algorithm = _PrecomputedHMAC()
        self._signers = [
            Signer(key, salt=salt, key_derivation="none", algorithm=algorithm) for key in self._keys
        ]

    def sign(self, payload: str, now: int | None = None) -> str:
        """Sign ``payload`` with the newest key, stamped with the current time."""
        issued_at = int(time.time()) if now is None else now
        return self._signers[0].sign(f"{payload}.{issued_at:x}").decode()

    def unsign(self, value: str, *, log: bool = True) -> Unsigned | None:
        """Verify a cookie value; ``None`` for anything not signed by one of our keys (logged on
        the security logger unless ``log=False``)."""
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
            return Unsigned(payload, issued_at, index)
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
