"""Sessions in a Redis master that Sentinel keeps available: the settings to use."""

import os

import redis.exceptions
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff

from starlette_session import SessionStore
from starlette_session.backends import RedisBackend

# The Sentinels' addresses, for example
# "sentinel-1:26379,sentinel-2:26379,sentinel-3:26379".
SENTINELS = [
    (host, int(port))
    for host, _, port in (
        each.rpartition(":") for each in os.environ["REDIS_SENTINELS"].split(",")
    )
]

sentinel = Sentinel(
    SENTINELS,
    # The connections to the Sentinels themselves: a dead Sentinel is skipped after 0.5
    # s.
    sentinel_kwargs={"socket_timeout": 0.5, "socket_connect_timeout": 0.5},
)
client = sentinel.master_for(
    "sessions",  # the name in the Sentinels' `sentinel monitor` line
    # a command whose reply does not come (a frozen master) fails after 0.5 s
    socket_timeout=0.5,
    socket_connect_timeout=0.5,
    max_connections=50,  # per process
    # One immediate retry of a broken connection, which reconnects to whichever server
    # the Sentinels name master now; none on a timeout: a frozen master will not answer
    # it either.
    retry=Retry(NoBackoff(), 1, supported_errors=(redis.exceptions.ConnectionError,)),
)
store = SessionStore(RedisBackend(client, timeout=1.0))
