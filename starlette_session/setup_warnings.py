"""Warnings about how the application set sessions up, shown at the application's own line.

Starlette builds the middleware stack lazily (at the lifespan start or the first request), from
the server's code: a plain ``stacklevel`` would point into uvicorn. So the warning goes to the
application's first frame when there is one, else to the line of the application's module that
adds the middleware (``app.add_middleware(SessionMiddleware, ...)``, ``Middleware(...)``).
"""

from __future__ import annotations

import ast
import sys
import warnings
from types import FrameType, ModuleType

__all__ = ["warn_setup"]

#: Frames and modules of these packages are never the application's.
_NOT_APPLICATION = frozenset(
    {"starlette_session", "starlette", "fastapi", "uvicorn", "gunicorn", "hypercorn", "granian"}
    | {"daphne", "anyio", "sniffio", "h11", "httptools", "websockets", "uvloop", "_pytest"}
    | {"pluggy", "httpx", "httpx2"}
    | set(sys.stdlib_module_names)
)


def warn_setup(message: str, category: type[Warning] = UserWarning) -> None:
    """Warn with ``message`` at the application's line."""
    frame: FrameType | None = sys._getframe(1)
    level, app = 2, None
    while frame is not None:
        # "<string>": code run by `python -c`, such as multiprocessing's spawned worker.
        code_file = frame.f_code.co_filename
        if not _is_library(frame.f_globals) and not code_file.startswith("<"):
            if app is None:
                warnings.warn(message, category, stacklevel=level)
                return
            break
        if frame.f_code.co_name == "build_middleware_stack":  # Starlette's lazy build
            app = frame.f_locals.get("self")
        frame, level = frame.f_back, level + 1
    location = _adding_line(app)
    if location is None:
        warnings.warn(message, category, stacklevel=2)
        return
    module, line = location
    registry = module.__dict__.setdefault("__warningregistry__", {})
    filename = module.__file__ or module.__name__
    warnings.warn_explicit(message, category, filename, line, module.__name__, registry)


def _is_library(module_globals: dict[str, object]) -> bool:
    name, spec = module_globals.get("__name__"), module_globals.get("__spec__")
    if name == "__main__" and spec is not None:  # `python -m uvicorn`: the spec has the name
        name = getattr(spec, "name", name)
    return not isinstance(name, str) or name.partition(".")[0] in _NOT_APPLICATION


def _adding_line(app: object) -> tuple[ModuleType, int] | None:
    """The module and line that add ``SessionMiddleware``: searched first in the modules that
    hold ``app`` (preferring the calls on the names they hold it by), then in those that
    imported ``SessionMiddleware``."""
    modules = [
        module
        for module in list(sys.modules.values())
        if isinstance(module, ModuleType)
        and getattr(module, "__file__", None)
        and not _is_library(vars(module))
    ]
    names = {
        module: {name for name, value in list(vars(module).items()) if value is app}
        for module in modules
        if app is not None
    }
    holding = [module for module in modules if names.get(module)]
    importing = [module for module in modules if "SessionMiddleware" in vars(module)]
    for module in [*holding, *importing]:
        line = _call_line(module, names.get(module, set()))
        if line is not None:
            return module, line
    return (holding[0], 1) if holding else None


def _call_line(module: ModuleType, app_names: set[str]) -> int | None:
    try:
        with open(module.__file__ or "", encoding="utf-8") as source:
            tree = ast.parse(source.read())
    except (OSError, SyntaxError, ValueError):
        return None
    # `app.add_middleware(SessionMiddleware, ...)`, or `app = Starlette(middleware=[...])`.
    of_app = {
        id(node)
        for statement in ast.walk(tree)
        if isinstance(statement, ast.Assign)
        and any(_name(target) in app_names for target in statement.targets)
        for node in ast.walk(statement.value)
    }
    lines = [
        (not (id(node) in of_app or _receiver(node.func) in app_names), node.lineno)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (
            _name(node.func) == "SessionMiddleware"
            or (
                _name(node.func) in ("add_middleware", "Middleware")
                and node.args
                and _name(node.args[0]) == "SessionMiddleware"
            )
        )
    ]
    return min(lines)[1] if lines else None


def _receiver(node: ast.expr) -> str | None:
    return _name(node.value) if isinstance(node, ast.Attribute) else None


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else None
