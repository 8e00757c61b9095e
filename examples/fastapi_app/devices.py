"""The "your active sessions" page: each device a user is signed in on, and a button to end one.

The store records each logged-in session's device (``SessionStore(track_devices=True)``):
its user agent, a coarse client address (the /24 or /48 network) and its last use. This module
turns that into what the page shows. A session is named by its fingerprint (a hash of its store
key, see ``panel.py``), never by its key or id: the revoke form sends the fingerprint, and the
server finds the session among the user's own before ending it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from starlette_session import Session, SessionInfo, SessionStore

from .panel import Moment, fingerprint

# (pattern, name), first match wins: Edge and Opera say "Chrome" too, Chrome says "Safari".
BROWSERS = [
    (r"Edg(e|A|iOS)?/", "Edge"),
    (r"OPR/|Opera", "Opera"),
    (r"Firefox/|FxiOS/", "Firefox"),
    (r"HeadlessChrome/", "Headless Chrome"),
    (r"Chrome/|CriOS/|Chromium/", "Chrome"),
    (r"Safari/", "Safari"),
    (r"curl/", "curl"),
]
SYSTEMS = [
    (r"Android", "Android"),
    (r"iPhone|iPad|iPod", "iOS"),
    (r"Windows", "Windows"),
    (r"Mac OS X|Macintosh", "macOS"),
    (r"CrOS", "ChromeOS"),
    (r"Linux|X11", "Linux"),
]


def describe_device(user_agent: str | None) -> str:
    """ "Firefox on Linux", from a User-Agent header; "Unknown device" when it says nothing."""
    if not user_agent:
        return "Unknown device"
    browser = next((name for pattern, name in BROWSERS if re.search(pattern, user_agent)), None)
    system = next((name for pattern, name in SYSTEMS if re.search(pattern, user_agent)), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or "Unknown device"


@dataclass(frozen=True)
class Device:
    """One row of the page."""

    fingerprint: str
    name: str
    place: str
    started: Moment | None
    last_used: Moment | None
    current: bool


def device_of(info: SessionInfo) -> Device:
    return Device(
        fingerprint=fingerprint(info.key),
        name=describe_device(info.user_agent),
        place=f"network {info.client}" if info.client else "unknown network",
        started=Moment(info.created_at) if info.created_at else None,
        last_used=Moment(info.last_used) if info.last_used else None,
        current=info.current,
    )


async def devices_of(store: SessionStore[Any], user: str, session: Session) -> list[Device]:
    """The sessions of ``user``, most recently used first, this request's marked."""
    return [device_of(info) for info in await store.user_sessions(user, current=session)]


async def revoke_device(
    store: SessionStore[Any], user: str, session: Session, chosen: str
) -> Device | None:
    """End the session of ``user`` whose fingerprint is ``chosen`` (not this request's); the
    device it was, or None when no other session of the user has that fingerprint (it ended
    already, or was never theirs)."""
    for info in await store.user_sessions(user, current=session):
        chosen_one = fingerprint(info.key) == chosen and not info.current
        if chosen_one and await store.revoke_session(user, info.key):
            return device_of(info)
    return None
