"""Every Python code block of the documentation pages includes a docs_src file that a test runs.

A literal block could rot unnoticed; an include (``--8<-- "docs_src/<page>/<name>.py"``, expanded
by pymdownx.snippets when the site is built) shows a file that ``tests/test_tutorial/`` imports
and exercises. SECURITY.md's blocks, included whole in the Security page, are run by
``test_security.py`` and ``tests/security/``.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# A fence at any indentation (a block inside a list item is indented), closed at the same one.
FENCE = re.compile(
    r"^(?P<indent> *)```(?P<lang>\w*)\n(?P<code>.*?)^(?P=indent)```", re.DOTALL | re.MULTILINE
)
INCLUDE = re.compile(r' *--8<-- "(?P<path>docs_src/[\w/]+\.(?:py|sh))"\n')


def test_every_python_block_includes_a_sample_that_a_test_runs() -> None:
    tests = "".join(path.read_text() for path in Path(__file__).parent.glob("test_*.py"))
    found = 0
    for page in sorted((ROOT / "docs").glob("**/*.md")):
        for block in FENCE.finditer(page.read_text()):
            if block["lang"] not in ("python", "py"):
                continue
            include = INCLUDE.fullmatch(block["code"])
            assert include, (
                f"{page.name}: a literal Python block; move it to docs_src/<page>/<name>.py, "
                f'include it with --8<-- "docs_src/...", and run it in tests/test_tutorial/:\n'
                f"{block['code']}"
            )
            path = include["path"]
            assert (ROOT / path).is_file(), f"{page.name} includes {path}, which does not exist"
            module = path.removesuffix(".py").replace("/", ".")
            assert f'"{module}"' in tests, f"{page.name} shows {path}, which no test loads"
            found += 1
    assert found >= 20


def test_every_docs_src_file_is_shown_somewhere() -> None:
    shown = "".join(page.read_text() for page in (ROOT / "docs").glob("**/*.md"))
    shown += (ROOT / "README.md").read_text()
    for sample in sorted((ROOT / "docs_src").glob("**/*.*")):
        if sample.suffix in (".py", ".sh") and sample.name != "__init__.py":
            path = sample.relative_to(ROOT).as_posix()
            assert path in shown, f"{path} is not shown on any page"


COLUMN = 88  # what the site's text column shows under the copy button without a scroll bar


def test_every_sample_fits_the_column() -> None:
    """docs_src/ (ruff formats it at 88, see docs_src/ruff.toml) and every literal block."""
    too_long: list[str] = []
    for sample in sorted((ROOT / "docs_src").glob("**/*.*")):
        if sample.suffix in (".py", ".sh", ".txt", ".toml"):
            for number, line in enumerate(sample.read_text().splitlines(), 1):
                if len(line) > COLUMN:
                    too_long.append(f"{sample.relative_to(ROOT)}:{number} ({len(line)})")
    # SECURITY.md is the Security page, included whole.
    for page in [ROOT / "SECURITY.md", *sorted((ROOT / "docs").glob("**/*.md"))]:
        text = page.read_text()
        for block in FENCE.finditer(text):
            first = text.count("\n", 0, block.start("code")) + 1
            for offset, line in enumerate(block["code"].splitlines()):
                if len(line) - len(block["indent"]) > COLUMN:
                    too_long.append(f"{page.relative_to(ROOT)}:{first + offset} ({len(line)})")
    assert not too_long, f"lines longer than {COLUMN} characters: {too_long}"


# How the project's own work was organized means nothing to a reader: "issue 3", "round 2".
INTERNAL = re.compile(r"\b(?:issue|round|scenario) #?\d+\b", re.IGNORECASE)


def test_no_page_refers_to_the_projects_internal_work() -> None:
    # SECURITY.md and CHANGELOG.md are included whole in the site; README.md is the front page.
    shown = [ROOT / "SECURITY.md", ROOT / "CHANGELOG.md", ROOT / "README.md"]
    found = [
        f"{page.relative_to(ROOT)}:{number}: {match[0]}"
        for page in [*shown, *sorted((ROOT / "docs").glob("**/*.md"))]
        for number, line in enumerate(page.read_text().splitlines(), 1)
        for match in INTERNAL.finditer(line)
    ]
    assert not found, f"internal references in the documentation: {found}"
