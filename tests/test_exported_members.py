"""The public names: sorted ``__all__`` lists that match what the modules really offer, and an
import that pulls in no optional dependency."""

from __future__ import annotations

import importlib
import inspect
import re
import subprocess
import sys
from types import ModuleType

import pytest

import starlette_session
import starlette_session.backends
import starlette_session.exceptions

#: Names a package serves lazily from its module ``__getattr__``, and the extra each needs
#: (None: none).
LAZY: dict[str, dict[str, str | None]] = {
    "starlette_session": {
        "CSRFToken": "fastapi",
        "FlashMessages": "fastapi",
        "SessionDependency": "fastapi",
        "SessionHandle": "fastapi",
        "get_session": "fastapi",
        "get_session_handle": "fastapi",
        "session_dependency": "fastapi",
    },
    "starlette_session.backends": {
        # The original API, served from starlette_session.compat (no extra needed).
        "AioMemcacheSessionBackend": None,
        "AioRedisSessionBackend": None,
        "BackendType": None,
        "LegacyBackend": None,
        "MemcacheJSONSerde": None,
        "MemcacheSessionBackend": None,
        "RedisSessionBackend": None,
        "UnknownPredefinedBackend": None,
        "MemcachedBackend": "aiomcache",
        "PymemcacheBackend": "pymemcache",
        "RedisBackend": "redis",
        "SQLBackend": "sqlalchemy",
    },
}
#: Driver classes the original's backends module imported, served from ours on first use.
ORIGINAL_DRIVER_ALIASES = {
    "Redis": ("redis", "redis.client.Redis"),
    "AioRedis": ("redis", "redis.asyncio.client.Redis"),
    "Memcache": ("pymemcache", "pymemcache.client.base.Client"),
    "AioMemcache": ("aiomcache", "aiomcache.client.Client"),
}
OPTIONAL_DEPENDENCIES = (
    "fastapi",
    "pydantic",
    "redis",
    "aiomcache",
    "pymemcache",
    "sqlalchemy",
    "opentelemetry",
)


def defined_public_names(module: ModuleType) -> set[str]:
    """Public attributes of ``module`` that starlette_session itself defines (not submodules,
    not names imported from the standard library or third parties)."""
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, ModuleType)
        and str(getattr(value, "__module__", "")).startswith("starlette_session")
    }


@pytest.mark.parametrize("module", [starlette_session, starlette_session.backends])
def test_all_is_sorted(module: ModuleType) -> None:
    assert module.__all__ == sorted(module.__all__)


@pytest.mark.parametrize("module", [starlette_session, starlette_session.backends])
def test_all_lists_exactly_the_public_names(module: ModuleType) -> None:
    lazy = set(LAZY[module.__name__])
    assert set(module.__all__) == defined_public_names(module) | lazy
    assert len(module.__all__) == len(set(module.__all__))


@pytest.mark.parametrize(
    ("module_name", "name", "extra"),
    [(module, name, extra) for module, names in LAZY.items() for name, extra in names.items()],
)
def test_lazy_names_resolve_when_their_extra_is_installed(
    module_name: str, name: str, extra: str | None
) -> None:
    if extra is not None:
        pytest.importorskip(extra)
    module = importlib.import_module(module_name)
    assert getattr(module, name) is not None


@pytest.mark.parametrize(("name", "driver"), ORIGINAL_DRIVER_ALIASES.items())
def test_the_original_driver_aliases_resolve(name: str, driver: tuple[str, str]) -> None:
    extra, qualified_name = driver
    pytest.importorskip(extra)
    value = getattr(starlette_session.backends, name)
    assert f"{value.__module__}.{value.__qualname__}" == qualified_name


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        starlette_session.nope  # noqa: B018
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        starlette_session.backends.nope  # noqa: B018


def test_every_exported_class_and_function_is_documented() -> None:
    pytest.importorskip("fastapi")
    for module in (starlette_session, starlette_session.backends):
        for name in module.__all__:
            value = getattr(module, name)
            if inspect.isclass(value) or inspect.isfunction(value):
                assert inspect.getdoc(value), f"{module.__name__}.{name} has no docstring"


SUBMODULES = [
    "cookies",
    "exceptions",
    "interfaces",
    "middleware",
    "records",
    "session",
    "signing",
    "store",
    "backends.base",
    "backends.memory",
    "compat",
    "durations",
    "migration",
]


@pytest.mark.parametrize("name", SUBMODULES)
def test_every_name_in_a_submodules_all_exists(name: str) -> None:
    module = importlib.import_module(f"starlette_session.{name}")
    missing = [member for member in module.__all__ if not hasattr(module, member)]
    assert missing == []


def test_importing_the_package_imports_no_optional_dependency() -> None:
    code = (
        "import sys\n"
        "import starlette_session, starlette_session.backends\n"
        "from starlette_session import SessionMiddleware, SessionStore\n"
        "from starlette_session.backends import BackendType, MemoryBackend, CookieBackend\n"
        "from starlette_session.backends import MemcacheJSONSerde, RedisSessionBackend\n"
        "import starlette_session.compat, starlette_session.durations\n"
        "import starlette_session.migration\n"
        f"print(sorted(name for name in {OPTIONAL_DEPENDENCIES!r} if name in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_the_exception_tree_in_the_docstring_is_the_real_one() -> None:
    module = starlette_session.exceptions
    assert module.__doc__ is not None
    drawn: dict[str, str | None] = {}
    parents: list[str] = []
    for line in module.__doc__.splitlines():
        match = re.match(r"^\s*(?P<indent>(?:[│├└─ ]{4})*)(?P<name>Session\w*Error)\s", line + " ")
        if match is None:
            continue
        depth = len(match["indent"]) // 4
        del parents[depth:]
        drawn[match["name"]] = parents[-1] if parents else None
        parents.append(match["name"])

    assert set(drawn) == set(module.__all__)
    for name, parent in drawn.items():
        cls = getattr(module, name)
        bases = [base.__name__ for base in cls.__bases__ if base.__name__ in drawn]
        assert bases == ([parent] if parent else []), name
        assert getattr(starlette_session, name) is cls, f"{name} is not exported at the top"
