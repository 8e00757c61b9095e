"""Lines and modules of the package: the 1.0 feature set, and the modules added for later features.

The one-pipeline work set a budget for the 1.0 feature set (every line counts: code, docstrings,
comments, blank lines); modules added afterwards for new features are counted apart.

    python scripts/line_budget.py
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "starlette_session"
#: Modules added after 1.0 for new features (encryption, web helpers, live connections).
NEW_FEATURES = frozenset(
    {
        "csrf",
        "encryption",
        "flash",
        "origin",
        "recent_auth",
        "live",
        "backends/_notify",
        "backends/_pg_notify",
        "backends/_redis_notify",
    }
)


def modules() -> dict[str, int]:
    """Every module of the package (``backends/redis``) and its number of lines."""
    return {
        path.relative_to(PACKAGE).with_suffix("").as_posix(): len(path.read_text().splitlines())
        for path in sorted(PACKAGE.rglob("*.py"))
    }


def main() -> None:
    counted = modules()
    core = {name: lines for name, lines in counted.items() if name not in NEW_FEATURES}
    later = {name: lines for name, lines in counted.items() if name in NEW_FEATURES}
    for name, lines in sorted(core.items(), key=lambda item: -item[1]):
        print(f"{lines:6} {name}")
    print(f"1.0 feature set: {sum(core.values())} lines in {len(core)} modules")
    print(f"later features:  {sum(later.values())} lines in {len(later)} modules")


if __name__ == "__main__":
    main()
