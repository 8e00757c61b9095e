"""The key that signs the shop's session cookies, and whether it is fit for where the app runs.

``SESSION_SECRET`` wins. Without it, a development key is generated once into
``examples/fastapi_app/.session-secret`` (git-ignored; ``SESSION_SECRET_FILE`` moves it), so that
restarting the app keeps everyone's session, with Redis as with any other persistent backend.

That key is for local development only. The rule: a request that reaches the app on an address
other than the loopback interface (127.0.0.0/8, ::1, ``localhost``) means it is served to other
machines, and then every page shows a loud warning and the log says so once.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

DEFAULT_SECRET_FILE = Path(__file__).resolve().parent / ".session-secret"


@dataclass(frozen=True)
class Secret:
    value: str
    #: Where it came from: "SESSION_SECRET", "argument", or the path of the development key file.
    source: str

    @property
    def is_development_key(self) -> bool:
        return self.source not in ("SESSION_SECRET", "argument")

    def __repr__(self) -> str:  # never the value
        return f"Secret(source={self.source!r})"


def session_secret() -> Secret:
    """``SESSION_SECRET``, or the development key from its file (made on first use)."""
    value = os.environ.get("SESSION_SECRET")
    if value:
        return Secret(value, "SESSION_SECRET")
    path = Path(os.environ.get("SESSION_SECRET_FILE") or DEFAULT_SECRET_FILE)
    for _ in range(50):
        try:
            value = path.read_text().strip()
        except FileNotFoundError:
            return _generate(path)
        if len(value) >= 32:
            return Secret(value, str(path))
        time.sleep(0.02)  # another worker may be writing it right now
    raise RuntimeError(f"{path} holds no usable key: delete it, and a new one is generated")


def _generate(path: Path) -> Secret:
    value = secrets.token_urlsafe(32)
    try:
        # Readable by this user only; O_EXCL: of two workers starting together, one writes it.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return session_secret()
    except OSError as error:  # a read-only checkout: a key for this run only
        logger.warning(
            "cannot write %s (%s): using a random key, so sessions end when the app stops; "
            "set SESSION_SECRET",
            path,
            error.strerror,
        )
        return Secret(value, "a random key for this run")
    with os.fdopen(descriptor, "w") as file:
        file.write(value + "\n")
    logger.info("generated a development session key in %s", path)
    return Secret(value, str(path))


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` (a server address from the ASGI scope) is this machine's loopback."""
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


_warned = False


def development_key_exposed(secret: Secret, server_host: str | None) -> bool:
    """True when ``secret`` is the development key and the request came from beyond loopback."""
    global _warned
    if not secret.is_development_key or is_loopback(server_host):
        return False
    if not _warned:
        _warned = True
        logger.warning(
            "The shop is served beyond this machine with its DEVELOPMENT session key (%s): anyone "
            "who reads that file can forge sessions. Set SESSION_SECRET to 32+ random characters.",
            secret.source,
        )
    return True
