"""Log a user out everywhere, from outside a request: a password reset, a lock."""

import logging
from typing import Any

from starlette_session import SessionStore

logger = logging.getLogger(__name__)


async def log_out_everywhere(store: SessionStore[Any], user_id: str) -> int:
    """End every session of ``user_id``; return how many were ended."""
    sessions = await store.user_sessions(user_id)  # [SessionInfo(key, created_at), ...]
    logger.info("ending %d sessions of a user", len(sessions))
    # no keep=: every session of the user
    return await store.revoke_user_sessions(user_id)
