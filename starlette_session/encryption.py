"""Encryption at rest: stored sessions and cookie payloads sealed with AES-256-GCM.

A :class:`KeyRing` holds keys with ids, newest first: the newest seals, every key opens. A sealed
value is ``MAGIC | id length | key id | 12-byte nonce | ciphertext and 16-byte tag``; the key id
says which key opens it, the nonce is random for each value. The authenticated data binds a
value to its place: a stored session to its store key (and the sealed format's version), a cookie
payload to the cookie's name and a label derived from the app's signing key. A value that fails
to open is *refused* (``Stored.refused`` names why) and read as no session; nothing raises.

``cryptography`` is imported only when a ring is built, so the core stays pure Python. The
reasoning (why separate keys, why no HKDF from the signing secret) is in ``docs/security.md``.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import re
import secrets
from collections.abc import Iterable
from typing import Any

from starlette_session.exceptions import SessionSettingsError, SessionSetupError
from starlette_session.records import RETIRED, Stored

__all__ = ["EncryptionKey", "KeyRing", "cookie_aad", "generate_key", "record_aad"]

security_logger = logging.getLogger("starlette_session.security")

#: The first bytes of every sealed value: never the start of a JSON record (``{``).
MAGIC = b"\x00ssE1"
#: The sealed format's version, part of every value's authenticated data.
FORMAT = b"1"
NONCE_SIZE = 12
TAG_SIZE = 16
KEY_SIZE = 32
_KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,32}")
_INSTALL = (
    "encryption needs the 'cryptography' package: pip install 'starlette-session[encryption]'"
)


def generate_key() -> str:
    """A new random 256-bit key, URL-safe base64 (43 characters): give it an id in a
    :class:`KeyRing`, keep it as you keep the signing secret."""
    return secrets.token_urlsafe(KEY_SIZE)


def record_aad(store_key: str) -> bytes:
    """The authenticated data of a stored session: the sealed format and its store key."""
    return b"starlette-session.record." + FORMAT + b"\x00" + store_key.encode()


def cookie_aad(cookie_name: str, app_label: bytes) -> bytes:
    """The authenticated data of a cookie payload: the cookie's name and the app's label (a
    key derived from its signing key)."""
    return b"starlette-session.cookie." + FORMAT + b"\x00" + cookie_name.encode() + app_label


class EncryptionKey:
    """One key of a :class:`KeyRing`: an ``id`` written beside each value it seals, and 32
    random bytes (raw, or URL-safe base64 as :func:`generate_key` makes). Its repr names the id
    only."""

    __slots__ = ("id", "secret")

    def __init__(self, id: str, secret: str | bytes) -> None:
        if not isinstance(id, str) or not _KEY_ID.fullmatch(id):
            raise SessionSettingsError(
                "an encryption key id is 1 to 32 characters of letters, digits, '.', '_', '-'"
            )
        self.id = id
        self.secret = _key_bytes(secret)

    def __repr__(self) -> str:
        return f"EncryptionKey(id={self.id!r})"


def _key_bytes(secret: str | bytes) -> bytes:
    if isinstance(secret, str):
        try:
            secret = base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))
        except (binascii.Error, ValueError):
            secret = b""
    if not isinstance(secret, bytes) or len(secret) != KEY_SIZE:
        raise SessionSettingsError(
            "an encryption key is 32 random bytes, or their URL-safe base64 (43 characters): "
            "make one with starlette_session.generate_key(), never from a password"
        )
    return secret


class KeyRing:
    """The keys that seal stored sessions (``SessionStore(encryption=KeyRing([...]))``).

    The first key seals every value written; every key opens the values that name it. A value
    naming a key not in the ring is read as no session. ``accept_plain=True`` also reads records
    written before encryption was on (migration), ``decrypt_only=True`` writes plain records
    again (switching encryption off); see ``docs/encryption.md``.
    """

    def __init__(
        self,
        keys: Iterable[EncryptionKey | tuple[str, str | bytes]],
        *,
        accept_plain: bool = False,
        decrypt_only: bool = False,
    ) -> None:
        ring = [key if isinstance(key, EncryptionKey) else EncryptionKey(*key) for key in keys]
        if not ring:
            raise SessionSettingsError("a KeyRing needs at least one key (the first seals)")
        ids = [key.id for key in ring]
        if len(set(ids)) != len(ids):
            raise SessionSettingsError("each key of a KeyRing needs its own id")
        try:
            from cryptography.exceptions import InvalidTag
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        except ImportError as error:  # pragma: no cover - the extra is installed in the checks
            raise SessionSetupError(_INSTALL) from error
        self.ids = tuple(ids)
        self._invalid: type[Exception] = InvalidTag
        self.accept_plain = accept_plain or decrypt_only
        self.decrypt_only = decrypt_only
        self._ciphers: dict[bytes, Any] = {key.id.encode(): AESGCM(key.secret) for key in ring}
        newest = ids[0].encode()
        self._newest = self._ciphers[newest]
        #: What every value the ring seals starts with.
        self.header = MAGIC + bytes([len(newest)]) + newest
        self._body = len(self.header) + NONCE_SIZE
        #: How many bytes sealing adds to a record (0 when it writes plain records).
        self.overhead = 0 if decrypt_only else len(self.header) + NONCE_SIZE + TAG_SIZE

    @classmethod
    def from_string(cls, text: str, **options: bool) -> KeyRing:
        """A ring from ``"id:key id:key ..."`` (newest first), as kept in one environment
        variable; ``options`` as for the constructor."""
        keys = []
        for item in text.split():
            key_id, sep, secret = item.partition(":")
            if not sep:
                raise SessionSettingsError("write each encryption key as id:key, newest first")
            keys.append(EncryptionKey(key_id, secret))
        return cls(keys, **options)

    def seal(self, plain: bytes, aad: bytes) -> bytes:
        """``plain`` sealed under the newest key, bound to ``aad``; as is with ``decrypt_only``."""
        if self.decrypt_only:
            return plain
        nonce = os.urandom(NONCE_SIZE)  # what secrets.token_bytes returns, one call less
        sealed: bytes = self.header + nonce + self._newest.encrypt(nonce, plain, aad)
        return sealed

    def current(self, sealed: bytes | None) -> bool:
        """Whether ``sealed`` is as this ring writes it now (sealed under the newest key, or
        plain with ``decrypt_only``): False means the next write changes it."""
        if sealed is None:
            return True
        if self.decrypt_only:
            return not sealed.startswith(MAGIC)
        return sealed.startswith(self.header)

    def stored(self, sealed: bytes | None, aad: bytes) -> Stored:
        """What a key holding ``sealed`` holds, opened: a record's JSON, the retired marker,
        nothing, or a refused value (``refused`` says why; one WARNING names the key id)."""
        if sealed is None:
            return Stored(sealed)
        body = self._body
        if sealed.startswith(self.header) and len(sealed) >= body + TAG_SIZE:
            try:  # the usual case: sealed under the newest key
                plain = self._newest.decrypt(sealed[body - NONCE_SIZE : body], sealed[body:], aad)
            except self._invalid:
                return _refused(sealed, "ciphertext", self.ids[0].encode())
            return Stored(plain, sealed)
        if sealed == RETIRED:
            return Stored(sealed)
        if not sealed.startswith(MAGIC):
            if self.accept_plain and sealed[:1] == b"{":
                return Stored(sealed)
            reason = "plain" if sealed[:1] == b"{" else "malformed"
            return _refused(sealed, reason, None)
        start = len(MAGIC) + 1
        id_end = start + sealed[len(MAGIC)] if len(sealed) > len(MAGIC) else 0
        key_id = sealed[start:id_end]
        if id_end == 0 or len(sealed) < id_end + NONCE_SIZE + TAG_SIZE:
            return _refused(sealed, "malformed", None)
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            known = _KEY_ID.fullmatch(key_id.decode("ascii", "replace"))
            return _refused(sealed, "unknown_key" if known else "malformed", key_id)
        nonce = sealed[id_end : id_end + NONCE_SIZE]
        try:
            plain = cipher.decrypt(nonce, sealed[id_end + NONCE_SIZE :], aad)
        except self._invalid:  # tampered, moved from another key, or another app's
            return _refused(sealed, "ciphertext", key_id)
        return Stored(plain, sealed)

    def __repr__(self) -> str:
        return f"KeyRing(ids={list(self.ids)!r}, accept_plain={self.accept_plain})"


def _refused(sealed: bytes, reason: str, key_id: bytes | None) -> Stored:
    name = key_id.decode("ascii", "replace") if key_id is not None else ""
    shown = repr(name) if _KEY_ID.fullmatch(name) else "(malformed)"
    if reason == "unknown_key":
        security_logger.warning(
            "a stored session is encrypted under key id %s, which the KeyRing no longer holds: "
            "read as no session",
            shown,
        )
    elif reason == "plain":
        security_logger.warning(
            "a stored session is not encrypted and the KeyRing does not accept plain records "
            "(accept_plain=False): read as no session"
        )
    else:
        security_logger.warning(
            "a stored session failed to decrypt (key id %s): tampered, or moved from another "
            "key or app; read as no session",
            shown,
        )
    return Stored(None, sealed, refused=reason)
