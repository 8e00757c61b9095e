"""How long a session lives: idle and absolute timeouts, per-session lifetimes, cookie Max-Age.

Pure functions of the store's settings, a session's metadata and the current time (whole seconds),
shared by loading (is it still alive?) and the commit plan (which time to live, which Max-Age).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Lifetimes"]


@dataclass(frozen=True)
class Lifetimes:
    """The timeouts of a store and the Max-Age of its middleware's cookie."""

    idle_timeout: int | None
    absolute_timeout: int | None
    cookie_max_age: int | None

    def idle_limit(self, meta: dict[str, Any]) -> int | None:
        """Seconds a session lives unused: its own lifetime, else the store's idle timeout."""
        lifetime = meta.get("l")
        return lifetime if isinstance(lifetime, int) else self.idle_timeout

    def expired(self, meta: dict[str, Any], now: int) -> bool:
        """Whether the absolute timeout has ended the session (or it has no creation time)."""
        if self.absolute_timeout is None:
            return False
        created = meta.get("c")
        return not isinstance(created, int) or created + self.absolute_timeout <= now

    def lapsed(self, meta: dict[str, Any], issued_at: int, now: int) -> bool:
        """Cookie backend: whether the session went unused (unsigned) for longer than its limit."""
        limit = self.idle_limit(meta)
        return limit is not None and now - issued_at > limit

    def ttl(self, meta: dict[str, Any], now: int) -> int:
        """The backend time to live: the idle limit, within the absolute timeout."""
        ttl = self.idle_limit(meta)
        if self.absolute_timeout is not None:
            remaining = meta.get("c", now) + self.absolute_timeout - now
            ttl = remaining if ttl is None else min(ttl, remaining)
        return max(1, ttl or 1)

    def max_age(self, meta: dict[str, Any], now: int) -> int | None:
        """The cookie's Max-Age: the session's lifetime or the cookie's, within the absolute
        timeout; None for a browser-session cookie."""
        max_age = meta.get("l", self.cookie_max_age)
        if max_age is not None and self.absolute_timeout is not None:
            max_age = min(max_age, meta.get("c", now) + self.absolute_timeout - now)
        return max_age
