"""The engine to give SQLBackend, per database."""

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def sqlite_engine(path: str) -> AsyncEngine:
    """``path``: absolute, on a local disk, in a directory the application can write."""
    return create_async_engine(
        f"sqlite+aiosqlite:///{path}",
        # one connection per process: requests queue in the pool, not in SQLite
        pool_size=1,
        max_overflow=0,
    )


def postgresql_engine(url: str) -> AsyncEngine:
    """``url``: ``postgresql+asyncpg://app:password@db/app``."""
    return create_async_engine(
        url,
        pool_size=10,
        max_overflow=10,
        pool_timeout=2,
        hide_parameters=True,  # no session data in SQLAlchemy's errors and logs
    )


def mariadb_engine(url: str) -> AsyncEngine:
    """``url``: ``mysql+asyncmy://app:password@db/app`` (MariaDB or MySQL)."""
    return create_async_engine(
        url,
        # an engine of its own: no COMMIT, no ROLLBACK per request
        isolation_level="AUTOCOMMIT",
        skip_autocommit_rollback=True,  # SQLAlchemy 2.0.43+
        pool_recycle=3600,
        hide_parameters=True,
    )
