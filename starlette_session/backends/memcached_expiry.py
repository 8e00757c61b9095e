"""memcached's expiry time, shared by both memcached backends (aiomcache and pymemcache)."""

from __future__ import annotations

import time

__all__ = ["RELATIVE_EXPIRY_LIMIT", "memcached_expiry"]

#: memcached reads an expiry over 30 days as a Unix timestamp, not a number of seconds.
RELATIVE_EXPIRY_LIMIT = 30 * 24 * 60 * 60


def memcached_expiry(ttl: int | None) -> int:
    """The ``exptime`` memcached needs for a time to live of ``ttl`` seconds (None: never)."""
    if ttl is None:
        return 0  # memcached's "no expiry"
    return ttl if ttl <= RELATIVE_EXPIRY_LIMIT else int(time.time()) + ttl
