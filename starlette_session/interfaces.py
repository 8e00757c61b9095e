"""The original starlette-session's ``starlette_session.interfaces``: see ``compat``."""

from starlette_session.compat import ISessionBackend

__all__ = ["ISessionBackend"]
