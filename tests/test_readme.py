"""Every code block of README.md is a copy of a file under docs_src/, and that file is run.

Each block is preceded by ``<!-- docs_src/<path> -->`` naming its file. Python files are run by
``tests/test_tutorial/``; the install commands by ``tests/release/`` (in fresh virtualenvs); the
commands of "Try it" must name the repository's own executable scripts.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BLOCK = re.compile(r"(?:<!-- (?P<source>\S+) -->\n)?```(?P<lang>\w*)\n(?P<code>.*?)```", re.DOTALL)


def readme_blocks() -> list[tuple[str | None, str, str]]:
    return [
        (match["source"], match["lang"], match["code"])
        for match in BLOCK.finditer(README.read_text())
    ]


def test_every_block_is_a_copy_of_its_docs_src_file() -> None:
    blocks = readme_blocks()
    assert len(blocks) >= 4
    for source, lang, code in blocks:
        assert source is not None, f"a README block without its <!-- docs_src/... --> line:\n{code}"
        assert source.startswith("docs_src/")
        assert lang == {"py": "python", "sh": "sh"}[source.rsplit(".", 1)[1]]
        assert code == (ROOT / source).read_text(), f"README block differs from {source}"


def test_every_python_file_shown_is_run_by_a_tutorial_test() -> None:
    tests = "".join(path.read_text() for path in (ROOT / "tests" / "test_tutorial").glob("*.py"))
    for source, _, _ in readme_blocks():
        assert source is not None
        if source.endswith(".py"):
            module = source.removesuffix(".py").replace("/", ".")
            assert f'"{module}"' in tests, f"no test loads {module}"


def test_the_install_commands_are_the_ones_the_release_test_runs() -> None:
    release_test = (ROOT / "tests" / "release" / "test_release.py").read_text()
    for source, lang, _ in readme_blocks():
        if lang == "sh" and source is not None and "install/from_" in source:
            assert f'"{source}"' in release_test


def test_try_it_runs_the_repository_scripts() -> None:
    for source, _, code in readme_blocks():
        if source == "docs_src/install/try_it.sh":
            for line in code.splitlines():
                script = ROOT / shlex.split(line, comments=True)[0]
                assert script.is_file(), script
                assert os.access(script, os.X_OK), f"{script} is not executable"
