"""Where tests keep what they download (Starlette's sdist, the original package's virtualenv)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_directory"]


def cache_directory() -> Path:
    """Kept between runs, outside the repository: ``$STARLETTE_SESSION_TEST_CACHE``, else
    ``$XDG_CACHE_HOME/starlette-session-tests`` (``~/.cache/...``)."""
    configured = os.environ.get("STARLETTE_SESSION_TEST_CACHE")
    if configured:
        return Path(configured)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "starlette-session-tests"
