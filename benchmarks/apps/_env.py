"""Settings shared by the contender apps."""

import os

SECRET_KEY = "x" * 32


def redis_url() -> str:
    """The private Redis started by the harness (never the system one)."""
    try:
        return os.environ["BENCH_REDIS_URL"]
    except KeyError:
        raise RuntimeError(
            "BENCH_REDIS_URL is not set: Redis contenders are meant to be started by "
            "benchmarks/run.sh, which runs a private redis-server."
        ) from None
