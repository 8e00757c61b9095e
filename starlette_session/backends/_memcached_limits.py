"""memcached's limits, shared by both memcached backends (aiomcache and pymemcache).

A key over 250 bytes is refused by every memcached client before it is sent, and a value over
the server's item size (``memcached -I``, 1 MiB by default) by the server. Neither is an outage:
the key length is checked when the store is bound, and a value too large raises
:class:`SessionTooLargeError`, as the store's own ``max_size`` does.
"""

from __future__ import annotations

from starlette_session.exceptions import SessionTooLargeError

__all__ = ["DEFAULT_ITEM_SIZE", "KEY_LIMIT", "check_item_size", "is_too_large", "too_large"]

#: The longest key memcached accepts, in bytes.
KEY_LIMIT = 250
#: memcached's default largest item (``-I 1m``).
DEFAULT_ITEM_SIZE = 1024 * 1024


def too_large(size: int | None, limit: int, backend: str) -> SessionTooLargeError:
    """The error for a session memcached cannot hold (``size`` None: the server refused it)."""
    takes = f"takes {size} bytes, over" if size is not None else "is over"
    return SessionTooLargeError(
        f"the session {takes} memcached's item size limit ({limit} bytes configured; the "
        f"server's is memcached -I): raise it on the server and in {backend}(max_item_size=...), "
        "or store less in the session (SessionStore(max_size=...) keeps it smaller); nothing was "
        "saved"
    )


def check_item_size(value: bytes, limit: int, backend: str) -> None:
    """Raise :class:`SessionTooLargeError` for a value no memcached with ``-I limit`` stores."""
    if len(value) > limit:
        raise too_large(len(value), limit, backend)


def is_too_large(error: Exception) -> bool:
    """Whether a driver error is memcached's "SERVER_ERROR object too large for cache"."""
    return "too large" in str(error)
