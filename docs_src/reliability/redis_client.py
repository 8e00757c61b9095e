"""A redis.asyncio client with bounded waits, for sessions in production."""

import os

import redis.asyncio
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from starlette_session import SessionStore
from starlette_session.backends import RedisBackend

pool = redis.asyncio.BlockingConnectionPool.from_url(
    os.environ.get("REDIS_URL", "redis://redis.internal:6379/0"),
    max_connections=50,  # per process: the most Redis commands in flight at once
    timeout=0.5,  # wait at most 0.5 s for a free connection, then fail
    socket_connect_timeout=0.5,  # a connection attempt that hangs gives up after 0.5 s
    socket_timeout=0.5,  # so does a command whose reply does not come
    # Retry once, at once, on a broken connection (a pooled connection that died with a
    # Redis restart); never on a timeout: a stalled Redis will not answer the retry
    # either.
    retry=Retry(NoBackoff(), 1, supported_errors=(redis.exceptions.ConnectionError,)),
)
# the client owns the pool: aclose() closes both
client = redis.asyncio.Redis.from_pool(pool)
store = SessionStore(RedisBackend(client, timeout=1.0))
