"""Backend keys: a keyed hash of a session id or user id, never the id itself.

A listing of the backend's keys therefore yields nothing that can be turned into a cookie, and a
user's index key does not reveal the user id. The hash keys derive from the signing keys, one per
signing key, so that sessions stored before a secret rotation are still found.

The store keys of recent session ids are remembered (at most
:data:`~starlette_session.signing.VERIFIED_CACHE_SIZE`), as the signer remembers the cookie values
it verified: only ids whose signature verified, or that the store made, are ever hashed.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac

from starlette_session.signing import VERIFIED_CACHE_SIZE, CookieSigner

__all__ = ["StoreKeys"]

_DIGEST_SIZE = 32


class StoreKeys:
    """Derives the backend keys of sessions and of users' session indexes."""

    __slots__ = ("_hash_keys", "_index_keys", "_session_keys", "prefix", "signer")

    def __init__(self, signer: CookieSigner, prefix: str) -> None:
        self.signer = signer
        self.prefix = prefix
        self._hash_keys: dict[int, bytes] = {}
        self._index_keys: dict[int, bytes] = {}
        self._session_keys: dict[tuple[str, int], str] = {}

    def session_key(self, session_id: str, key_index: int = 0) -> str:
        """The prefix and a keyed BLAKE2b hash of ``session_id``."""
        known = self._session_keys.get((session_id, key_index))
        if known is not None:
            return known
        hash_key = self._hash_keys.get(key_index)
        if hash_key is None:
            hash_key = self._hash_keys[key_index] = self.signer.derive(b"store-key", key_index)
        digest = hashlib.blake2b(
            session_id.encode(), key=hash_key, digest_size=_DIGEST_SIZE
        ).hexdigest()
        key = self.prefix + digest
        cache = self._session_keys
        if len(cache) >= VERIFIED_CACHE_SIZE:
            # The oldest goes first (another thread may have removed it: then another went).
            with contextlib.suppress(KeyError, RuntimeError, StopIteration):
                del cache[next(iter(cache))]
        cache[session_id, key_index] = key
        return key

    def user_key(self, user_id: str, key_index: int = 0) -> str:
        """The key of ``user_id``'s session index under one signing key."""
        hash_key = self._index_keys.get(key_index)
        if hash_key is None:
            hash_key = self._index_keys[key_index] = self.signer.derive(b"user-index", key_index)
        digest = hmac.new(hash_key, user_id.encode(), hashlib.sha256).hexdigest()
        return f"{self.prefix}user:{digest}"

    @property
    def longest_key(self) -> int:
        """The length in bytes of the longest key made: a user's index key, or a session's."""
        return max(len(self.user_key("").encode()), len(self.prefix) + 2 * _DIGEST_SIZE)

    @property
    def key_count(self) -> int:
        """How many signing keys, hence how many generations of keys, are live."""
        return self.signer.key_count
