"""The package's shape: layers that import only downward, no import cycle, and no module
touching another's private attributes (a module may be as long as its one concept needs). Read
from the source, so type-only and function-local imports count too."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "starlette_session"

# Bottom to top. A module may import modules of lower layers only (and, inside backends/ and
# compat/, the original API beside them, the backends they wrap: checked for cycles below).
LAYERS: list[set[str]] = [
    {"exceptions", "durations", "setup_warnings"},
    {"cookies", "signing", "records", "migration", "backends", "compat", "state", "origin"},
    {"events", "devices", "interfaces", "encryption"},
    {"user_index", "typed", "plan", "live"},
    {"storage"},
    {"loading"},
    {"store"},
    {"session"},
    {"websocket", "flash", "csrf", "recent_auth"},
    {"middleware"},
    {"dependencies", "testing", "telemetry"},
    {"cli"},
    {"__init__", "__main__"},
]


#: Public methods of named tuples, spelled with an underscore so as not to clash with fields.
NAMEDTUPLE_API = frozenset({"_replace", "_asdict", "_fields", "_make"})
#: The standard library's own underscored functions a module may call (documented as such).
STDLIB_API = frozenset({"_getframe"})


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE).with_suffix("")
    return ".".join(relative.parts)


TREES = {module_name(path): ast.parse(path.read_text()) for path in PACKAGE.rglob("*.py")}


def imported(tree: ast.Module, name: str) -> set[str]:
    """The package modules a module imports, anywhere in it (TYPE_CHECKING blocks included)."""
    package = name.rpartition(".")[0] if not name.endswith("__init__") else name[: -len("__init__")]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".") if package else []
                base = ".".join([*parts[: len(parts) - node.level + 1], base]).strip(".")
            elif base.startswith("starlette_session"):
                base = base[len("starlette_session") :].lstrip(".")
            else:
                continue
            for alias in node.names:
                submodule = f"{base}.{alias.name}" if base else alias.name
                # `from package import submodule` imports the submodule; a name, the package.
                found.add(submodule if submodule in TREES else base)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("starlette_session."):
                    found.add(alias.name[len("starlette_session.") :])
    resolved = set()
    for candidate in found:
        if candidate in TREES:
            resolved.add(candidate)
        elif f"{candidate}.__init__" in TREES:
            resolved.add(f"{candidate}.__init__")
    resolved.discard(name)
    return resolved


GRAPH = {name: imported(tree, name) for name, tree in TREES.items()}


def layer_of(name: str) -> int:
    top = name.split(".")[0]
    for index, layer in enumerate(LAYERS):
        if top in layer:
            return index
    raise AssertionError(
        f"starlette_session/{name}.py is in no layer of tests/test_architecture.py"
    )


def test_every_module_is_in_a_layer() -> None:
    for name in GRAPH:
        layer_of(name)


@pytest.mark.parametrize("name", sorted(GRAPH))
def test_modules_import_only_lower_layers(name: str) -> None:
    if name.startswith(("backends.", "compat.")):
        return  # the backends and the original API: checked for cycles, nothing above them
    upward = [other for other in GRAPH[name] if layer_of(other) >= layer_of(name)]
    assert not upward, f"{name} imports {upward} from its own layer or above"


def test_backends_import_nothing_above_the_bottom_layers() -> None:
    for name, targets in GRAPH.items():
        if name.startswith(("backends.", "compat.")):
            above = [other for other in targets if layer_of(other) > layer_of("backends")]
            assert not above, f"{name} imports {above}"


def test_no_import_cycle_anywhere_in_the_package() -> None:
    visiting: list[str] = []
    done: set[str] = set()

    def visit(name: str) -> None:
        if name in done:
            return
        assert name not in visiting, "import cycle: " + " -> ".join([*visiting, name])
        visiting.append(name)
        for target in sorted(GRAPH[name]):
            visit(target)
        visiting.pop()
        done.add(name)

    for name in sorted(GRAPH):
        visit(name)


def test_the_cycle_check_finds_a_cycle() -> None:
    saved = dict(GRAPH)
    GRAPH["state"] = {*GRAPH["state"], "session"}
    try:
        with pytest.raises(AssertionError, match="import cycle"):
            test_no_import_cycle_anywhere_in_the_package()
    finally:
        GRAPH.clear()
        GRAPH.update(saved)


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda path: path.name)
def test_no_module_touches_another_objects_private_attributes(path: Path) -> None:
    offending = []
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and node.attr not in NAMEDTUPLE_API | STDLIB_API
            and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
        ):
            offending.append(f"line {node.lineno}: .{node.attr}")
    assert not offending


def test_the_1_0_feature_set_stays_within_forty_modules() -> None:
    """One home per concept: modules added for later features are counted apart
    (``scripts/line_budget.py`` prints the lines and modules of each part)."""
    spec = importlib.util.spec_from_file_location(
        "line_budget", PACKAGE.parent / "scripts" / "line_budget.py"
    )
    assert spec is not None
    assert spec.loader is not None
    budget = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(budget)
    core = [name for name in budget.modules() if name not in budget.NEW_FEATURES]
    assert len(core) <= 40, sorted(core)
    assert set(budget.modules()) >= budget.NEW_FEATURES, "a new-feature module was renamed"
