"""``starlette_session.backends.original`` of 1.0: the original API lives in ``compat``."""

from starlette_session.compat import (
    UnknownPredefinedBackend,
    build_original_backend,
    original_session_reader,
)

__all__ = ["UnknownPredefinedBackend", "build_original_backend", "original_session_reader"]
