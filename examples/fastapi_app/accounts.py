"""Demo accounts, and what logging in and out does to the session."""

from __future__ import annotations

import hmac

from starlette_session import Session

from .models import ShopSession
from .panel import LoginNote

# Demo only: a real application checks a password hash (argon2, bcrypt) from its database.
DEMO_USERS = {"alice": "wonderland", "bob": "builder"}


def check_password(username: str, password: str) -> bool:
    expected = DEMO_USERS.get(username)
    # compare_digest on a dummy value too, so an unknown name takes as long as a wrong password.
    return hmac.compare_digest(password.encode(), (expected or "\0").encode()) and bool(expected)


def log_in(
    session: Session, shop: ShopSession, username: str, *, fingerprint: str | None = None
) -> None:
    """Rotate the session id (no session fixation), keep the cart, remember the user.

    Only the cart survives the log-in: anything else the anonymous session held (which someone
    else may have planted) is dropped. ``fingerprint`` names the session before the log-in, for
    the panel to show the rotation.
    """
    session.regenerate(keep=["cart"])
    session.set_user(username)
    session.model(LoginNote).rotated_from = fingerprint
    shop.username = username


def log_out(session: Session) -> None:
    """Delete the session server-side and expire the cookie: the cart goes too."""
    session.destroy()
