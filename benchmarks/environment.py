"""What the numbers were measured on: machine, versions, date."""

import datetime
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from benchmarks.contenders import REPO_DIR

PACKAGES = (
    "starlette-session",
    "starsessions",
    "starlette",
    "fastapi",
    "pydantic",
    "redis",
    "hiredis",
    "uvicorn",
    "uvloop",
    "httptools",
)

_VERSIONS_SCRIPT = """
import importlib.metadata, json, sys
found = {}
for name in sys.argv[1:]:
    try:
        found[name] = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        pass
print(json.dumps(found))
"""


def package_versions(python: Path) -> dict[str, str]:
    done = subprocess.run(
        [str(python), "-c", _VERSIONS_SCRIPT, *PACKAGES], capture_output=True, text=True, check=True
    )
    versions: dict[str, str] = json.loads(done.stdout)
    return versions


def _first_line(command: list[str], any_exit_code: bool = False) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10)
    except OSError:
        return "not installed"
    lines = done.stdout.strip().splitlines()
    if not lines or (done.returncode and not any_exit_code):
        return "unknown"
    return lines[0]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def describe(venv_pythons: dict[str, Path]) -> dict[str, Any]:
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{_cpu_model()}, {os.cpu_count()} cores, {platform.platform(terse=True)}",
        "python": platform.python_version(),
        "git_commit": _first_line(["git", "-C", str(REPO_DIR), "rev-parse", "--short", "HEAD"]),
        "redis_server": _first_line(["redis-server", "--version"]),
        "wrk": _first_line(["wrk", "--version"], any_exit_code=True),
        "venvs": {name: package_versions(python) for name, python in venv_pythons.items()},
    }
