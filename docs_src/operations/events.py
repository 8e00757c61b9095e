"""Session events: an audit log of log-ins and revocations; forged cookies counted."""

import logging
import os
from collections import Counter

from fastapi import FastAPI

from starlette_session import (
    SessionEvent,
    SessionEventInfo,
    SessionMiddleware,
    SessionStore,
)

audit = logging.getLogger("shop.audit")
store = SessionStore()
tampered = Counter[str]()


async def audit_session(info: SessionEventInfo) -> None:  # async handlers are awaited
    # info.key is the store key (a keyed hash of the session id): never the id or the
    # cookie.
    audit.info(
        "session %s: user=%s reason=%s", info.event.value, info.user, info.reason
    )


def count_tampered(info: SessionEventInfo) -> None:  # sync handlers are called
    tampered[info.reason or "unknown"] += 1


for event in (SessionEvent.rotated, SessionEvent.destroyed, SessionEvent.revoked):
    store.on(event, audit_session)
store.on(SessionEvent.tampered, count_tampered)

app = FastAPI()
app.add_middleware(
    SessionMiddleware, secret_key=os.environ["SESSION_SECRET"], store=store
)
